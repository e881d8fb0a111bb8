// The current run: metadata only (frames go straight to the canvas, never through React state).
import type { StateCreator } from 'zustand';
import type { GenerateParams, RunStage } from '../../shared/protocol';
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
  /** ‖∇ₓ log p(y | ·)‖₂ per finished step (null where the classifier was not called). */
  gradNorm: (number | null)[];
  appliedScale: number | null;
  /** Classifier-free scale applied at the latest step (null before the first frame). */
  appliedCfgScale: number | null;
  runMs: number | null;
  runError: string | null;
  /** The stage the run is in (or ended in): the base model, or the cascade's upsampler after it. */
  stage: RunStage;
  /** Finished upsampler steps and their total (0: the run has no upsample stage). */
  upsampleStep: number;
  upsampleSteps: number;
  /**
   * What the run `runId` was asked for, with the scales it was changed to while running: what its
   * frames show (the controls may have moved on since). null before the first run.
   */
  runParams: GenerateParams | null;
  runRequested: (runId: number, numSteps: number, params?: GenerateParams) => void;
  /** A live change sent to the running run (the guidance scales). */
  runParamsChanged: (patch: Partial<GenerateParams>) => void;
  runStarted: (numSteps: number, upsampleSteps?: number) => void;
  /** A frame of the upsample stage (the base model's step, log p and scales stay as they were). */
  upsampleStepFinished: (step: number, numSteps: number) => void;
  stepFinished: (
    step: number, numSteps: number, logp: number | null, appliedScale: number, appliedCfgScale?: number, gradNorm?: number | null,
  ) => void;
  runDone: (ms: number) => void;
  runCancelled: (step: number, stage?: RunStage, upsampleStep?: number) => void;
  runFailed: (message: string) => void;
}

export const createRunSlice: StateCreator<AppState, [], [], RunSlice> = (set) => ({
  runId: 0,
  runState: 'idle',
  step: 0,
  numSteps: 0,
  logp: [],
  gradNorm: [],
  appliedScale: null,
  appliedCfgScale: null,
  runMs: null,
  runError: null,
  stage: 'base',
  upsampleStep: 0,
  upsampleSteps: 0,
  runParams: null,
  runRequested: (runId, numSteps, params) =>
    set({
      runId, runState: 'running', step: 0, numSteps, logp: [], gradNorm: [], appliedScale: null, appliedCfgScale: null, runMs: null, runError: null,
      stage: 'base', upsampleStep: 0, upsampleSteps: 0, runParams: params ?? null,
    }),
  runParamsChanged: (patch) => set((s) => (s.runParams ? { runParams: { ...s.runParams, ...patch } } : {})),
  runStarted: (numSteps, upsampleSteps = 0) => set({ numSteps, upsampleSteps }),
  upsampleStepFinished: (upsampleStep, upsampleSteps) => set({ stage: 'upsample', upsampleStep, upsampleSteps }),
  stepFinished: (step, numSteps, logp, appliedScale, appliedCfgScale = 0, gradNorm = null) =>
    set((s) => {
      const next = s.logp.slice(0, step - 1);
      next[step - 1] = logp;
      const norms = s.gradNorm.slice(0, step - 1);
      norms[step - 1] = gradNorm;
      return { step, numSteps, logp: next, gradNorm: norms, appliedScale, appliedCfgScale };
    }),
  runDone: (runMs) => set({ runState: 'done', runMs }),
  runCancelled: (step, stage, upsampleStep) =>
    set((s) => ({ runState: 'cancelled', step, stage: stage ?? s.stage, upsampleStep: upsampleStep ?? s.upsampleStep })),
  runFailed: (runError) => set({ runState: 'error', runError }),
});
