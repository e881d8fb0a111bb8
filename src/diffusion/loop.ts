// The sampling loop: x_T ~ N(0, I), then one reverse step per respaced index i = numSteps-1 ... 0,
// yielding after every step so a UI can show progress and change the guidance scale mid-run.
//
// Random stream (fixed order, so a seed reproduces a run): x_T is drawn first (N·3·H·W normals),
// then exactly one noise tensor of the same size per step, including the last step and DDIM with
// eta = 0 where it is multiplied by 0 — the reference draws it too, and keeping the draw keeps the
// stream aligned whatever the settings.

import type { ClassifierGradFn, DenoiseFn, Shape4 } from './types';
import type { DiffusionProcess } from './process';
import type { GaussianRng } from './rng';
import { allocMeanVariance, conditionMean, conditionScore, ddimSampleInto, pMeanVarianceInto, pSampleInto } from './step';

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
  /** Read at every step; 0 skips the classifier call entirely. */
  getClassifierScale: () => number;
  useDdim: boolean;
  /** DDIM eta (default 0: deterministic DDIM). */
  eta?: number;
  /** Clip predicted x_0 to [-1, 1] (default true, as in all the reference's scripts). */
  clipDenoised?: boolean;
  rng: GaussianRng;
  /** Checked before every step; true ends the loop without running that step. */
  shouldStop?: () => boolean;
  /** Optional x_T to start from instead of drawing it (the rng then only supplies step noise). */
  xT?: Float32Array;
}

export interface StepRecord {
  /**
   * 0-based position of this step in the run (= steps completed before it): 0 for the first
   * record, numSteps-1 for the last. Progress after this record is (step + 1) / numSteps.
   */
  step: number;
  numSteps: number;
  /** Respaced index i of this step (numSteps-1 ... 0). */
  index: number;
  /** Original timestep timestepMap[i] that the networks saw. */
  timestep: number;
  /** x_{t-1} after this step. Owned by the loop and overwritten later: copy it to keep it. */
  x: Float32Array;
  /** Predicted x_0 at this step (guided for DDIM). Owned by the loop: copy it to keep it. */
  predXstart: Float32Array;
  /** log p(y | x_t) per sample from the classifier at this step; null when it was not called. */
  logp: Float32Array | null;
  /** Guidance scale applied at this step (0 when the classifier was skipped). */
  classifierScale: number;
}

function checkLabels(labels: Int32Array | null | undefined, n: number, what: string): void {
  if (labels && labels.length !== n) throw new Error(`${what} has ${labels.length} entries for a batch of ${n}`);
}

export async function* sampleLoop(opts: SampleOptions): AsyncGenerator<StepRecord, void, void> {
  const { process: p, shape, denoise, rng } = opts;
  const [n, c, h, w] = shape;
  if (c !== 3 || ![n, h, w].every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`bad sample shape ${shape.join('x')} (expected [N, 3, H, W])`);
  }
  checkLabels(opts.unetLabels, n, 'unetLabels');
  if (opts.classifierGrad && !opts.classifierLabels) throw new Error('classifierLabels are required with classifierGrad');
  checkLabels(opts.classifierLabels, n, 'classifierLabels');
  const eta = opts.eta ?? 0;
  if (!Number.isFinite(eta) || eta < 0) throw new Error(`eta must be a non-negative number (got ${eta})`);
  const clip = opts.clipDenoised ?? true;
  const size = n * c * h * w;

  let x = new Float32Array(size);
  if (opts.xT) {
    if (opts.xT.length !== size) throw new Error(`xT has ${opts.xT.length} values, shape needs ${size}`);
    x.set(opts.xT);
  } else {
    rng.fill(x);
  }
  // Two image buffers swapped every step, plus the step scratch: nothing is allocated per step.
  let next = new Float32Array(size);
  const noise = new Float32Array(size);
  const mv = allocMeanVariance(size);
  const timesteps = new Float32Array(n);
  const numSteps = p.numTimesteps;

  for (let done = 0; done < numSteps; done++) {
    if (opts.shouldStop?.()) return;
    const i = numSteps - 1 - done;
    const timestep = p.timestepMap[i];
    // Networks see the ORIGINAL timestep (float32), the same one for the U-Net and the classifier.
    timesteps.fill(timestep);
    const modelOutput = await denoise(x, timesteps, opts.unetLabels, shape);
    pMeanVarianceInto(p, modelOutput, x, i, shape, clip, mv);

    const requested = opts.getClassifierScale();
    if (!Number.isFinite(requested)) throw new Error(`classifier scale must be a finite number (got ${requested})`);
    let applied = 0;
    let logp: Float32Array | null = null;
    if (requested !== 0 && opts.classifierGrad && opts.classifierLabels) {
      // The gradient is taken at the step's input x_t, not at the mean (reference behaviour).
      const g = await opts.classifierGrad(x, timesteps, opts.classifierLabels, shape);
      if (g.grad.length !== size) throw new Error(`classifier gradient has ${g.grad.length} values, expected ${size}`);
      logp = g.logp;
      applied = requested;
      if (opts.useDdim) conditionScore(p, mv, x, i, g.grad, applied);
      else conditionMean(mv, g.grad, applied);
    }

    rng.fill(noise);
    if (opts.useDdim) ddimSampleInto(p, mv, x, i, noise, eta, next);
    else pSampleInto(mv, noise, i, next);
    [x, next] = [next, x];

    yield { step: done, numSteps, index: i, timestep, x, predXstart: mv.predXstart, logp, classifierScale: applied };
  }
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
