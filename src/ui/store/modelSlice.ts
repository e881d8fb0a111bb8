// The model side: which packs exist, the one being loaded or in use, and how it runs.
import type { StateCreator } from 'zustand';
import type { PackManifest } from '../../shared/manifest';
import type { EpInfo } from '../../shared/protocol';
import type { AppState } from './store';

export interface PackEntry {
  id: string;
  title: string;
  /** Absolute URL of the pack folder (ends with "/"). */
  url: string;
}

export interface LoadProgress {
  file: string;
  loaded: number;
  total: number;
  fromCache: boolean;
}

export type PackStatus = 'none' | 'loading' | 'ready' | 'error';

export interface ModelSlice {
  packs: PackEntry[];
  defaultPackId: string;
  /** Id of the newest load request; progress/ready/loadError for other ids are stale. */
  loadId: number;
  packStatus: PackStatus;
  progress: LoadProgress | null;
  manifest: PackManifest | null;
  epInfo: EpInfo | null;
  warmupMs: number | null;
  loadError: string | null;
  setPacks: (packs: PackEntry[], defaultPackId: string) => void;
  loadStarted: (loadId: number) => void;
  loadProgress: (p: LoadProgress) => void;
  loadReady: (manifest: PackManifest, epInfo: EpInfo, warmupMs: number) => void;
  loadFailed: (message: string) => void;
}

export const createModelSlice: StateCreator<AppState, [], [], ModelSlice> = (set) => ({
  packs: [],
  defaultPackId: '',
  loadId: 0,
  packStatus: 'none',
  progress: null,
  manifest: null,
  epInfo: null,
  warmupMs: null,
  loadError: null,
  setPacks: (packs, defaultPackId) => set({ packs, defaultPackId }),
  loadStarted: (loadId) =>
    set({ loadId, packStatus: 'loading', progress: null, manifest: null, epInfo: null, warmupMs: null, loadError: null }),
  loadProgress: (progress) => set({ progress }),
  loadReady: (manifest, epInfo, warmupMs) => set({ packStatus: 'ready', manifest, epInfo, warmupMs, progress: null }),
  loadFailed: (loadError) => set({ packStatus: 'error', loadError, progress: null }),
});
