// One zustand store made of typed slices. Vanilla (createStore) so tests run it in Node;
// React components read it through useApp with single-field selectors.
import { createStore, type StoreApi } from 'zustand/vanilla';
import { useStore } from 'zustand';
import { createGridSlice, type GridSlice } from './gridSlice';
import { createImportSlice, type ImportSlice } from './importSlice';
import { createModelSlice, type ModelSlice } from './modelSlice';
import { createNoticeSlice, type NoticeSlice } from './noticeSlice';
import { createParamsSlice, type ParamsSlice } from './paramsSlice';
import { createRunSlice, type RunSlice } from './runSlice';

export type AppState = ParamsSlice & ModelSlice & RunSlice & NoticeSlice & GridSlice & ImportSlice;
export type AppStore = StoreApi<AppState>;

export function createAppStore(): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createParamsSlice(...a),
    ...createModelSlice(...a),
    ...createRunSlice(...a),
    ...createNoticeSlice(...a),
    ...createGridSlice(...a),
    ...createImportSlice(...a),
  }));
}

/** The app's store (tests make their own with createAppStore). */
export const appStore = createAppStore();

export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(appStore, selector);
}
