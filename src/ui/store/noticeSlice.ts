// Messages for the page that are not tied to one run or load: bad URL params, device loss, ...
import type { StateCreator } from 'zustand';
import type { AppState } from './store';

export interface Notice {
  id: number;
  level: 'info' | 'warning' | 'error';
  text: string;
}

export interface NoticeSlice {
  notices: Notice[];
  addNotice: (level: Notice['level'], text: string) => void;
  dismissNotice: (id: number) => void;
}

let nextId = 1;

export const createNoticeSlice: StateCreator<AppState, [], [], NoticeSlice> = (set) => ({
  notices: [],
  addNotice: (level, text) =>
    set((s) => (s.notices.some((n) => n.text === text) ? s : { notices: [...s.notices, { id: nextId++, level, text }] })),
  dismissNotice: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
});
