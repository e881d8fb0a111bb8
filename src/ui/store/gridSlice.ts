// Grid runs (sweep, diversity): small per-step metadata only, the newest run per view. The cell
// images go through liveFrames, never through React state.
import type { StateCreator } from 'zustand';
import type { GridLayout } from '../gridRequest';
import type { AppState } from './store';

export type GridViewName = 'sweep' | 'diversity';

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
  /**
   * Of the final samples: per group, pixel L2 (RMS) and the classifier's softmax L2; per cell, the
   * classifier's log p(y | x_0) (both null: no classifier).
   */
  readout: { pixelL2: number[]; classifierL2: number[] | null; logp: number[] | null } | null;
}

export interface GridSlice {
  gridRuns: Partial<Record<GridViewName, GridRunInfo>>;
  gridRunStarted: (runId: number, layout: GridLayout) => void;
  gridStepFinished: (view: GridViewName, runId: number, step: number, logp: (number | null)[] | null, pixelDiversity: number[]) => void;
  gridReadout: (view: GridViewName, runId: number, pixelL2: number[], classifierL2: number[] | null, logp: number[] | null) => void;
}

export const createGridSlice: StateCreator<AppState, [], [], GridSlice> = (set) => ({
  gridRuns: {},
  gridRunStarted: (runId, layout) =>
    set((s) => ({ gridRuns: { ...s.gridRuns, [layout.view]: { runId, layout, step: 0, logp: null, pixelDiversity: [], readout: null } } })),
  gridStepFinished: (view, runId, step, logp, pixelDiversity) =>
    set((s) => {
      const prev = s.gridRuns[view];
      if (prev?.runId !== runId) return {};
      return { gridRuns: { ...s.gridRuns, [view]: { ...prev, step, logp: logp ?? prev.logp, pixelDiversity } } };
    }),
  gridReadout: (view, runId, pixelL2, classifierL2, logp) =>
    set((s) => {
      const prev = s.gridRuns[view];
      if (prev?.runId !== runId) return {};
      return { gridRuns: { ...s.gridRuns, [view]: { ...prev, readout: { pixelL2, classifierL2, logp } } } };
    }),
});
