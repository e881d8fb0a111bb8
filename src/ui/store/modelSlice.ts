// The model side: which packs exist, the one being loaded or in use, and how it runs.
import type { StateCreator } from 'zustand';
import type { PackManifest } from '../../shared/manifest';
import type { EpInfo, FromWorker, LoadStage, LoadTimings, StorageEstimateInfo, StoredPackInfo } from '../../shared/protocol';
import type { AppState } from './store';

export interface PackEntry {
  id: string;
  title: string;
  /** Absolute URL of the pack folder (ends with "/"). */
  url: string;
  /** Built in this browser from checkpoint files (it exists only in storage). */
  imported?: boolean;
}

/** Stored packs built from checkpoint files (their URL ends with checkpoint-packs/<name>/), as picker entries. */
export function importedPacks(stored: readonly StoredPackInfo[]): PackEntry[] {
  return stored.flatMap((p) => {
    const m = /\/checkpoint-packs\/([\w-]+)\/$/.exec(p.packUrl);
    return m ? [{ id: m[1], title: p.title, url: p.packUrl, imported: true }] : [];
  });
}

/** Ids of imported packs: the U-Net's stem and 12 hex digits of the pack's digest. */
export const IMPORTED_ID = /-[0-9a-f]{12}$/;

/** The worker's progress message without its routing fields (one definition: the protocol's). */
export type LoadProgress = Omit<Extract<FromWorker, { kind: 'progress' }>, 'kind' | 'loadId'>;

/** The "Cached packs" panel: what the worker has stored, and what the page measured. */
export interface StoredState {
  packs: StoredPackInfo[];
  /** False: no OPFS here (packs are not stored, or only in the Cache API). */
  available: boolean;
  error: string | null;
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
  /** Where the newest ready load's time went. */
  loadTimings: LoadTimings | null;
  /** What a load does after its downloads (sessions, warm-up), or 'waiting' for another tab; null otherwise. */
  loadStage: LoadStage | null;
  /** With loadStage 'waiting': the model file the other tab of this app is storing. */
  waitingFor: string | null;
  loadError: string | null;
  /** Null until the worker first reports. */
  stored: StoredState | null;
  /** The page's StorageManager numbers (persisted: the answer to persist()/persisted()). */
  storageEstimate: StorageEstimateInfo | null;
  /** Index packs; the imported ones already listed stay. */
  setPacks: (packs: PackEntry[], defaultPackId: string) => void;
  addImportedPack: (entry: PackEntry) => void;
  loadStarted: (loadId: number) => void;
  loadProgress: (p: LoadProgress) => void;
  loadReady: (manifest: PackManifest, epInfo: EpInfo, warmupMs: number, timings?: LoadTimings | null) => void;
  loadFailed: (message: string) => void;
  loadStageChanged: (stage: LoadStage, file?: string) => void;
  setStored: (stored: StoredState) => void;
  setStorageEstimate: (estimate: StorageEstimateInfo | null) => void;
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
  loadTimings: null,
  loadStage: null,
  waitingFor: null,
  loadError: null,
  stored: null,
  storageEstimate: null,
  setPacks: (packs, defaultPackId) => set((s) => ({ packs: [...packs, ...s.packs.filter((p) => p.imported)], defaultPackId })),
  addImportedPack: (entry) => set((s) => ({ packs: [...s.packs.filter((p) => p.id !== entry.id), { ...entry, imported: true }] })),
  loadStarted: (loadId) =>
    set({ loadId, packStatus: 'loading', progress: null, manifest: null, epInfo: null, warmupMs: null, loadTimings: null, loadStage: null, waitingFor: null, loadError: null }),
  // Progress means the wait for another tab (if any) is over.
  loadProgress: (progress) => set((s) => (s.loadStage === 'waiting' ? { progress, loadStage: null, waitingFor: null } : { progress })),
  loadReady: (manifest, epInfo, warmupMs, timings = null) =>
    set({ packStatus: 'ready', manifest, epInfo, warmupMs, loadTimings: timings, loadStage: null, waitingFor: null, progress: null }),
  loadFailed: (loadError) => set({ packStatus: 'error', loadError, progress: null, loadStage: null, waitingFor: null }),
  loadStageChanged: (loadStage, file) => set({ loadStage, waitingFor: loadStage === 'waiting' ? (file ?? null) : null }),
  setStored: (stored) =>
    set((s) => {
      const imported = importedPacks(stored.packs);
      const packs = [...s.packs.filter((p) => !p.imported), ...imported];
      // A link to an imported pack this browser no longer has: the default pack instead.
      const gone = IMPORTED_ID.test(s.params.packId) && !imported.some((p) => p.id === s.params.packId) && s.defaultPackId;
      return { stored, packs, ...(gone ? { params: { ...s.params, packId: s.defaultPackId } } : {}) };
    }),
  setStorageEstimate: (storageEstimate) => set({ storageEstimate }),
});
