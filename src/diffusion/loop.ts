// The stepping loop: x_T ~ N(0, I), then one reverse step per respaced index i = numSteps-1 ... 0 with
// the (possibly guided) model of guided.ts, yielding after every step so a UI can show progress and
// change the guidance scale mid-run. It only steps: guidance lives in the model it is given.
//
// Random stream (fixed order, so a seed reproduces a run): x_T is drawn first (N·3·H·W normals),
// then exactly one noise tensor of the same size per step, including the last step and DDIM with
// eta = 0 where it is multiplied by 0 — the reference draws it too, and keeping the draw keeps the
// stream aligned whatever the settings.
//
// With `rngPerSample` each sample draws its x_T and step noise from its own stream instead, plane by
// plane in the same order, so sample s of a batch equals a batch-1 run with rngPerSample[s] (a sweep
// whose cells share a seed sees the same noise in every cell, under DDPM too).
import type { DiffusionProcess } from './process';
import { checkFinite } from './finite';
import type { GuidedModel } from './guided';
import type { GaussianRng } from './rng';
import { ddimSampleInto, pSampleInto } from './step';
import type { Shape4 } from './types';

export interface StepLoopOptions {
  process: DiffusionProcess;
  /** [N, 3, H, W]. */
  shape: Shape4;
  /** Called once per step with x_t (guidedModel, or any model of that shape). */
  model: GuidedModel;
  useDdim: boolean;
  /** DDIM eta (default 0: deterministic DDIM). */
  eta?: number;
  rng: GaussianRng;
  /**
   * One stream per sample (length N): sample s draws its x_T and its step noise from
   * rngPerSample[s]; `rng` is then not used. Omitted: one stream for the whole batch (`rng`).
   */
  rngPerSample?: readonly GaussianRng[];
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
  /**
   * log p(y | x_t) per sample from the classifier at this step; null when it was not called, NaN for
   * a sample that was not classifier-guided at this step (only guided samples go through the classifier).
   */
  logp: Float32Array | null;
  /** Classifier scale applied to sample 0 at this step (0 when the classifier was skipped). */
  classifierScale: number;
  /** Classifier-free scale applied to sample 0 at this step (0 when it had no null-label row). */
  cfgScale: number;
  /** Per-sample scales applied at this step (0 where skipped). Fresh arrays, the caller may keep them. */
  classifierScales: Float32Array;
  cfgScales: Float32Array;
  /** Rows of this step's U-Net batch: N, plus one null-label row per sample guided classifier-free. */
  unetRows: number;
  /**
   * The unscaled classifier gradient ∇ log p(y | ·) of this step ([N, 3, H, W], where `gradientAt`
   * says; zero for samples that were not classifier-guided), or null when the classifier was not
   * called. Owned by the gradient function or the loop: read it now.
   */
  grad: Float32Array | null;
  /** Σ, the model variance of this step's p(x_{t-1} | x_t) ([N, 3, H, W]). Owned by the loop: read it now. */
  variance: Float32Array;
}

/** Throws unless `shape` is [N, 3, H, W] with positive whole N, H, W. */
export function checkShape(shape: Shape4): void {
  const [n, c, h, w] = shape;
  if (c !== 3 || ![n, h, w].every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`bad sample shape ${shape.join('x')} (expected [N, 3, H, W])`);
  }
}

export async function* stepLoop(o: StepLoopOptions): AsyncGenerator<StepRecord, void, void> {
  const { process: p, shape, model, rng } = o;
  checkShape(shape);
  const [n, c, h, w] = shape;
  const eta = o.eta ?? 0;
  if (!Number.isFinite(eta) || eta < 0) throw new Error(`eta must be a non-negative number (got ${eta})`);
  const size = n * c * h * w;
  const perSample = o.rngPerSample;
  if (perSample && perSample.length !== n) throw new Error(`rngPerSample has ${perSample.length} streams for a batch of ${n}`);

  const plane = c * h * w;
  // Per-sample streams fill their own slices: views made once, so nothing is allocated per step.
  const fillNoise = (dst: Float32Array, slices: Float32Array[]): void => {
    if (!perSample) rng.fill(dst);
    else for (let s = 0; s < n; s++) perSample[s].fill(slices[s]);
  };
  const slicesOf = (a: Float32Array) => Array.from({ length: perSample ? n : 0 }, (_, s) => a.subarray(s * plane, (s + 1) * plane));
  let x = new Float32Array(size);
  if (o.xT) {
    if (o.xT.length !== size) throw new Error(`xT has ${o.xT.length} values, shape needs ${size}`);
    x.set(o.xT);
  } else {
    fillNoise(x, slicesOf(x));
  }
  // Two image buffers swapped every step, plus the noise: nothing is allocated per step.
  let next = new Float32Array(size);
  const noise = new Float32Array(size);
  const noiseSlices = slicesOf(noise);
  const numSteps = p.numTimesteps;

  for (let done = 0; done < numSteps; done++) {
    if (o.shouldStop?.()) return;
    const i = numSteps - 1 - done;
    const at = { done, numSteps, index: i, timestep: p.timestepMap[i] };
    const g = await model(x, at);
    const { mv } = g;
    fillNoise(noise, noiseSlices);
    if (o.useDdim) ddimSampleInto(p, mv, x, i, noise, eta, next);
    else pSampleInto(mv, noise, i, next);
    checkFinite(next, 'sample', at, () => `${g.scalesText()}: is the guidance scale too large?`);
    checkFinite(mv.predXstart, 'predXstart', at, g.scalesText);
    [x, next] = [next, x];

    yield {
      step: done, numSteps, index: i, timestep: at.timestep, x, predXstart: mv.predXstart, logp: g.logp,
      classifierScale: g.classifierScales[0], cfgScale: g.cfgScales[0], classifierScales: g.classifierScales, cfgScales: g.cfgScales,
      unetRows: g.unetRows, grad: g.grad, variance: mv.variance,
    };
  }
}
