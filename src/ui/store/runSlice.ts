// The current run: metadata only (frames go straight to the canvas, never through React state).
import type { StateCreator } from 'zustand';
import type { AppState } from './store';

export type RunState = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

export interface RunSlice {
  /** Id of the newest run the UI asked for (0: none yet); messages of other runs are stale. */
  runId: number;
  runState: RunState;
  step: number;
  numSteps: number;
  /** log p(y | x_t) per finished step (null where the classifier was not called). */
  logp: (number | null)[];
  appliedScale: number | null;
  /** Classifier-free scale applied at the latest step (null before the first frame). */
  appliedCfgScale: number | null;
  runMs: number | null;
  runError: string | null;
  runRequested: (runId: number, numSteps: number) => void;
  runStarted: (numSteps: number) => void;
  stepFinished: (step: number, numSteps: number, logp: number | null, appliedScale: number, appliedCfgScale?: number) => void;
  runDone: (ms: number) => void;
  runCancelled: (step: number) => void;
  runFailed: (message: string) => void;
}

export const createRunSlice: StateCreator<AppState, [], [], RunSlice> = (set) => ({
  runId: 0,
  runState: 'idle',
  step: 0,
  numSteps: 0,
  logp: [],
  appliedScale: null,
  appliedCfgScale: null,
  runMs: null,
  runError: null,
  runRequested: (runId, numSteps) =>
    set({ runId, runState: 'running', step: 0, numSteps, logp: [], appliedScale: null, appliedCfgScale: null, runMs: null, runError: null }),
  runStarted: (numSteps) => set({ numSteps }),
  stepFinished: (step, numSteps, logp, appliedScale, appliedCfgScale = 0) =>
    set((s) => {
      const next = s.logp.slice(0, step - 1);
      next[step - 1] = logp;
      return { step, numSteps, logp: next, appliedScale, appliedCfgScale };
    }),
  runDone: (runMs) => set({ runState: 'done', runMs }),
  runCancelled: (step) => set({ runState: 'cancelled', step }),
  runFailed: (runError) => set({ runState: 'error', runError }),
});
