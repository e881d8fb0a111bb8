// The sampling loop with guidance given as options (the worker's runner, the CLI, the cascade and the
// golden tests call it): builds the guided model (guided.ts) and runs the stepping loop (loop.ts) with it.
//
// Guidance per step: classifier guidance (scale s, the classifier's gradient at x_t) and classifier-free
// guidance (scale w, the U-Net once on N + M rows: see cfg.ts), both optional, both per sample, both
// only inside the guidance interval. A batch of K sweep cells can so carry K different (s, w) pairs.
import type { GuidanceInterval, GuidanceScales } from './cfg';
import { guidedModel } from './guided';
import { checkShape, stepLoop, type StepRecord } from './loop';
import type { DiffusionProcess } from './process';
import type { GaussianRng } from './rng';
import type { ClassifierGradFn, DenoiseFn, Shape4 } from './types';

export interface SampleOptions {
  process: DiffusionProcess;
  /** [N, 3, H, W]. */
  shape: Shape4;
  denoise: DenoiseFn;
  /** y for the U-Net (null: the U-Net has no class input). */
  unetLabels: Int32Array | null;
  /** Omitted: no guidance possible (the scale is then reported as 0). */
  classifierGrad?: ClassifierGradFn;
  /** Guidance targets in the classifier's label space; required with classifierGrad. */
  classifierLabels?: Int32Array;
  /**
   * Read at every step: one classifier scale for the batch; 0 skips the classifier call entirely.
   * Ignored when getScales is given (one of the two is required).
   */
  getClassifierScale?: () => number;
  /**
   * Read at every step: the classifier scale s and the classifier-free scale w, each one number for the
   * batch or a Float32Array with one value per sample. A sample with s = 0 is not classifier-guided
   * and not fed to the classifier (which is not called when no sample needs it); a sample with w = 0
   * gets no null-label row.
   */
  getScales?: () => GuidanceScales;
  /**
   * U-Net labels of the null branch (the pack's unconditionalLabel, one per sample); needs unetLabels.
   * Omitted: no classifier-free guidance possible (w is then reported as 0).
   */
  nullLabels?: Int32Array;
  /** Guide (both kinds) only at original timesteps lo <= t <= hi (default: every step). */
  guidanceInterval?: GuidanceInterval;
  useDdim: boolean;
  /** DDIM eta (default 0: deterministic DDIM). */
  eta?: number;
  /** Clip predicted x_0 to [-1, 1] (default true, as in all the reference's scripts). */
  clipDenoised?: boolean;
  rng: GaussianRng;
  /**
   * One stream per sample (length N): sample s draws its x_T and its step noise from
   * rngPerSample[s]; `rng` is then not used. Omitted: one stream for the whole batch (`rng`).
   */
  rngPerSample?: readonly GaussianRng[];
  /**
   * Where the classifier gradient is taken for the ancestral (DDPM) step: 'x' (default) at the step's
   * input x_t with t, as the reference does; 'mean' at the unguided mean μ of p(x_{t-1} | x_t) with the
   * next step's timestep (openai/guided-diffusion issue #51, "a slight bug"). DDIM always takes the
   * score at x_t (paper Alg. 2), so this option does not change a DDIM step.
   */
  gradientAt?: 'x' | 'mean';
  /** Checked before every step; true ends the loop without running that step. */
  shouldStop?: () => boolean;
  /** Optional x_T to start from instead of drawing it (the rng then only supplies step noise). */
  xT?: Float32Array;
}

export async function* sampleLoop(opts: SampleOptions): AsyncGenerator<StepRecord, void, void> {
  checkShape(opts.shape);
  const { getScales, getClassifierScale } = opts;
  if (!getScales && !getClassifierScale) throw new Error('getScales or getClassifierScale is required');
  const model = guidedModel({
    ...opts,
    getScales: getScales ?? (() => ({ classifier: (getClassifierScale as () => number)(), cfg: 0 })),
  });
  yield* stepLoop({ ...opts, model });
}

/** Runs the loop to the end and returns the final x_0 (a fresh copy), or null if stopped early. */
export async function sampleToEnd(opts: SampleOptions, onStep?: (r: StepRecord) => void): Promise<Float32Array | null> {
  let last: StepRecord | null = null;
  for await (const r of sampleLoop(opts)) {
    onStep?.(r);
    last = r;
  }
  return last && last.step === last.numSteps - 1 ? last.x.slice() : null;
}
