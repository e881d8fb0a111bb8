// Checkpoint import: the released .pt files the visitor opened, what the worker recognised in them, its
// progress, and the pack it built (which joins the pack picker as an imported pack).
import type { StateCreator } from 'zustand';
import type { ImportPhase, ImportTimings, RecognisedFile } from '../../shared/protocol';
import type { AppState } from './store';

export type ImportStatus = 'idle' | 'working' | 'done' | 'error';

export interface ImportProgress {
  phase: ImportPhase;
  file: string;
  loaded: number;
  total: number;
}

export interface ImportSlice {
  /** Id of the newest import; messages for older ones are dropped. */
  importId: number;
  importStatus: ImportStatus;
  /** The names of the files being imported. */
  importFiles: string[];
  recognised: RecognisedFile[];
  importProgress: ImportProgress | null;
  importError: string | null;
  /** The finished import: the pack's title and where its time went. */
  importResult: { title: string; timings: ImportTimings } | null;
  importStarted: (importId: number, files: string[]) => void;
  importRecognised: (files: RecognisedFile[]) => void;
  importProgressed: (p: ImportProgress) => void;
  importFinished: (title: string, timings: ImportTimings) => void;
  importFailed: (message: string) => void;
}

export const createImportSlice: StateCreator<AppState, [], [], ImportSlice> = (set) => ({
  importId: 0,
  importStatus: 'idle',
  importFiles: [],
  recognised: [],
  importProgress: null,
  importError: null,
  importResult: null,
  importStarted: (importId, importFiles) =>
    set({ importId, importFiles, importStatus: 'working', recognised: [], importProgress: null, importError: null, importResult: null }),
  importRecognised: (recognised) => set({ recognised }),
  importProgressed: (importProgress) => set({ importProgress }),
  importFinished: (title, timings) => set({ importStatus: 'done', importProgress: null, importResult: { title, timings } }),
  importFailed: (importError) => set({ importStatus: 'error', importProgress: null, importError }),
});
