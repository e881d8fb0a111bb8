// Grid runs (sweep, diversity, trade-off): small per-step metadata only, the newest run per view. The
// cell images go through liveFrames, never through React state.
import type { StateCreator } from 'zustand';
import type { GridLayout } from '../gridRequest';
import type { AppState } from './store';
import type { GridReadout } from '../../shared/protocol';

export type GridViewName = 'sweep' | 'diversity' | 'tradeoff';

/** Of the final samples (the worker's gridReadout). */
export type { GridReadout };

export interface GridRunInfo {
  runId: number;
  /** What the run samples: the grid shows this layout (not the edited fields) until the next run. */
  layout: GridLayout;
  /** Finished steps of this grid run (the status line says the same for the current run). */
  step: number;
  /** log p(y | x_t) per cell at the latest step that called the classifier (null: a cell it did not see). */
  logp: (number | null)[] | null;
  /** Per group, live: mean pairwise pixel L2 (RMS) of the predicted x₀. */
  pixelDiversity: number[];
  /** Trade-off view, live: per group, the classifier's mean log p(y | x̂₀) of the predicted x₀ (null: none). */
  groupLogp: number[] | null;
  readout: GridReadout | null;
}

export interface GridSlice {
  gridRuns: Partial<Record<GridViewName, GridRunInfo>>;
  gridRunStarted: (runId: number, layout: GridLayout) => void;
  gridStepFinished: (
    view: GridViewName, runId: number, step: number, logp: (number | null)[] | null, pixelDiversity: number[], groupLogp?: number[] | null,
  ) => void;
  gridReadout: (view: GridViewName, runId: number, readout: GridReadout) => void;
}

export const createGridSlice: StateCreator<AppState, [], [], GridSlice> = (set) => ({
  gridRuns: {},
  gridRunStarted: (runId, layout) =>
    set((s) => ({
      gridRuns: { ...s.gridRuns, [layout.view]: { runId, layout, step: 0, logp: null, pixelDiversity: [], groupLogp: null, readout: null } },
    })),
  gridStepFinished: (view, runId, step, logp, pixelDiversity, groupLogp) =>
    set((s) => {
      const prev = s.gridRuns[view];
      if (prev?.runId !== runId) return {};
      return { gridRuns: { ...s.gridRuns, [view]: { ...prev, step, logp: logp ?? prev.logp, pixelDiversity, groupLogp: groupLogp ?? prev.groupLogp } } };
    }),
  gridReadout: (view, runId, readout) =>
    set((s) => {
      const prev = s.gridRuns[view];
      if (prev?.runId !== runId) return {};
      return { gridRuns: { ...s.gridRuns, [view]: { ...prev, readout } } };
    }),
});
