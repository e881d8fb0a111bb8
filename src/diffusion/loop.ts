// The sampling loop: x_T ~ N(0, I), then one reverse step per respaced index i = numSteps-1 ... 0,
// yielding after every step so a UI can show progress and change the guidance scale mid-run.
//
// Random stream (fixed order, so a seed reproduces a run): x_T is drawn first (N·3·H·W normals),
// then exactly one noise tensor of the same size per step, including the last step and DDIM with
// eta = 0 where it is multiplied by 0 — the reference draws it too, and keeping the draw keeps the
// stream aligned whatever the settings.
//
// With `rngPerSample` each sample draws its x_T and step noise from its own stream instead, plane by
// plane in the same order, so sample s of a batch equals a batch-1 run with rngPerSample[s] (a sweep
// whose cells share a seed sees the same noise in every cell, under DDPM too).
//
// Guidance per step: classifier guidance (scale s, the classifier's gradient at x_t) and classifier-free
// guidance (scale w, the U-Net once on N + M rows: see cfg.ts), both optional, both per sample, both
// only inside the guidance interval. A batch of K sweep cells can so carry K different (s, w) pairs.

import type { ClassifierGradFn, ClassifierGradResult, DenoiseFn, Shape4 } from './types';
import type { DiffusionProcess } from './process';
import type { GaussianRng } from './rng';
import { allocMeanVariance, conditionMean, conditionScore, ddimSampleInto, pMeanVarianceInto, pSampleInto, type MeanVariance } from './step';
import { cfgCombineInto, checkGuidanceInterval, inGuidanceInterval, scalesPerSample, type GuidanceInterval, type GuidanceScales } from './cfg';

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

/** Where a step is, for error messages: "sampling step 3/25 (timestep 920)". */
type StepAt = { done: number; numSteps: number; timestep: number };

/** Which array of a step held NaN or ±Infinity. */
export type NonFiniteSource = 'unetOutput' | 'classifierGrad' | 'sample' | 'predXstart';

const NON_FINITE_WHAT: Record<NonFiniteSource, string> = {
  unetOutput: 'the U-Net output',
  classifierGrad: 'the classifier gradient',
  sample: 'the new sample',
  predXstart: 'the predicted x_0',
};

/** A step produced NaN or ±Infinity; `source` says where, so callers need not read the message. */
export class NonFiniteError extends Error {
  readonly source: NonFiniteSource;

  constructor(source: NonFiniteSource, message: string) {
    super(message);
    this.name = 'NonFiniteError';
    this.source = source;
  }
}

/**
 * Refuses NaN and ±Infinity right where they appear (a too large scale, a broken model): without
 * this they would be clipped or turned into black pixels and the run would "succeed".
 */
function checkFinite(a: Float32Array, source: NonFiniteSource, at: StepAt, scales: () => string): void {
  for (let k = 0; k < a.length; k++) {
    if (a[k] - a[k] === 0) continue; // finite (NaN - NaN and Inf - Inf are NaN)
    let bad = 0;
    for (let j = k; j < a.length; j++) if (a[j] - a[j] !== 0) bad++;
    throw new NonFiniteError(
      source,
      `sampling step ${at.done + 1}/${at.numSteps} (timestep ${at.timestep}): ${NON_FINITE_WHAT[source]} is not finite ` +
        `(${bad} of ${a.length} values NaN or ±Infinity, the first ${a[k]} at index ${k}; ${scales()})`,
    );
  }
}

function checkLabels(labels: Int32Array | null | undefined, n: number, what: string): void {
  if (labels && labels.length !== n) throw new Error(`${what} has ${labels.length} entries for a batch of ${n}`);
}

/** Views of sample s of a MeanVariance (for guiding some samples of a batch and not others). */
function sampleView(mv: MeanVariance, from: number, to: number): MeanVariance {
  return {
    mean: mv.mean.subarray(from, to),
    variance: mv.variance.subarray(from, to),
    logVariance: mv.logVariance.subarray(from, to),
    predXstart: mv.predXstart.subarray(from, to),
  };
}

/** Input buffers of a guided U-Net batch with `rows` rows, kept per row count (no per-step allocation). */
interface GuidedBatch {
  x: Float32Array;
  t: Float32Array;
  y: Int32Array;
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
  checkLabels(opts.nullLabels, n, 'nullLabels');
  if (opts.nullLabels && !opts.unetLabels) throw new Error('nullLabels need a class-conditional U-Net (unetLabels)');
  if (!opts.getScales && !opts.getClassifierScale) throw new Error('getScales or getClassifierScale is required');
  if (opts.guidanceInterval) checkGuidanceInterval(opts.guidanceInterval);
  const eta = opts.eta ?? 0;
  if (!Number.isFinite(eta) || eta < 0) throw new Error(`eta must be a non-negative number (got ${eta})`);
  const clip = opts.clipDenoised ?? true;
  const size = n * c * h * w;
  const perSample = opts.rngPerSample;
  if (perSample && perSample.length !== n) throw new Error(`rngPerSample has ${perSample.length} streams for a batch of ${n}`);
  const gradAtMean = (opts.gradientAt ?? 'x') === 'mean' && !opts.useDdim;
  if (opts.gradientAt !== undefined && opts.gradientAt !== 'x' && opts.gradientAt !== 'mean') {
    throw new Error(`gradientAt must be 'x' or 'mean' (got ${String(opts.gradientAt)})`);
  }

  const plane = c * h * w;
  // Per-sample streams fill their own slices: views made once, so nothing is allocated per step.
  const fillNoise = (dst: Float32Array, slices: Float32Array[]): void => {
    if (!perSample) rng.fill(dst);
    else for (let s = 0; s < n; s++) perSample[s].fill(slices[s]);
  };
  const slicesOf = (a: Float32Array) => Array.from({ length: perSample ? n : 0 }, (_, s) => a.subarray(s * plane, (s + 1) * plane));
  let x = new Float32Array(size);
  if (opts.xT) {
    if (opts.xT.length !== size) throw new Error(`xT has ${opts.xT.length} values, shape needs ${size}`);
    x.set(opts.xT);
  } else {
    fillNoise(x, slicesOf(x));
  }
  // Two image buffers swapped every step, plus the step scratch: nothing is allocated per step.
  let next = new Float32Array(size);
  const noise = new Float32Array(size);
  const noiseSlices = slicesOf(noise);
  const mv = allocMeanVariance(size);
  const timesteps = new Float32Array(n);
  const gradTimesteps = new Float32Array(n);
  const numSteps = p.numTimesteps;
  const views = Array.from({ length: n }, (_, s) => sampleView(mv, s * plane, (s + 1) * plane));
  const requestedCls = new Float32Array(n);
  const requestedCfg = new Float32Array(n);
  const nullRow = new Int32Array(n);
  const batches = new Map<number, GuidedBatch>();
  const gradBatches = new Map<number, GuidedBatch>();
  let gradScratch: Float32Array | null = null;
  let combined: Float32Array | null = null;
  const readScales = (): void => {
    if (opts.getScales) {
      const sc = opts.getScales();
      scalesPerSample(sc.classifier, requestedCls, 'classifier');
      scalesPerSample(sc.cfg, requestedCfg, 'cfg');
    } else {
      scalesPerSample((opts.getClassifierScale as () => number)(), requestedCls, 'classifier');
      requestedCfg.fill(0);
    }
  };

  // Only the classifier-guided samples go through the gradient graph (a sweep's scale-0 and
  // classifier-free cells cost nothing there); the others get a zero gradient and log p NaN.
  const classifierGradOf = async (gx: Float32Array, gt: Float32Array, appliedCls: Float32Array): Promise<ClassifierGradResult> => {
    const classifierGrad = opts.classifierGrad as ClassifierGradFn;
    const labels = opts.classifierLabels as Int32Array;
    let guidedRows = 0;
    for (let s = 0; s < n; s++) if (appliedCls[s] !== 0) guidedRows++;
    if (guidedRows === n) {
      const g = await classifierGrad(gx, gt, labels, shape);
      if (g.grad.length !== size) throw new Error(`classifier gradient has ${g.grad.length} values, expected ${size}`);
      return g;
    }
    let b = gradBatches.get(guidedRows);
    if (!b) gradBatches.set(guidedRows, (b = { x: new Float32Array(guidedRows * plane), t: new Float32Array(guidedRows), y: new Int32Array(guidedRows) }));
    for (let s = 0, r = 0; s < n; s++) {
      if (appliedCls[s] === 0) continue;
      b.x.set(gx.subarray(s * plane, (s + 1) * plane), r * plane);
      b.t[r] = gt[s];
      b.y[r++] = labels[s];
    }
    const g = await classifierGrad(b.x, b.t, b.y, [guidedRows, c, h, w]);
    if (g.grad.length !== guidedRows * plane) {
      throw new Error(`classifier gradient has ${g.grad.length} values, expected ${guidedRows * plane} (${guidedRows} guided rows)`);
    }
    const full = (gradScratch ??= new Float32Array(size)).fill(0);
    const lp = new Float32Array(n).fill(NaN);
    for (let s = 0, r = 0; s < n; s++) {
      if (appliedCls[s] === 0) continue;
      full.set(g.grad.subarray(r * plane, (r + 1) * plane), s * plane);
      lp[s] = g.logp[r++];
    }
    return { grad: full, logp: lp };
  };

  for (let done = 0; done < numSteps; done++) {
    if (opts.shouldStop?.()) return;
    const i = numSteps - 1 - done;
    const timestep = p.timestepMap[i];
    // Networks see the ORIGINAL timestep (float32), the same one for the U-Net and the classifier.
    timesteps.fill(timestep);
    readScales();
    const guide = inGuidanceInterval(timestep, opts.guidanceInterval);
    const appliedCls = new Float32Array(n);
    const appliedCfg = new Float32Array(n);

    // Classifier-free: one U-Net call on the N conditional rows plus a null-label row per guided sample.
    let rows = n;
    for (let s = 0; s < n; s++) {
      nullRow[s] = -1;
      if (guide && opts.nullLabels && requestedCfg[s] !== 0) {
        nullRow[s] = rows++;
        appliedCfg[s] = requestedCfg[s];
      }
    }
    let anyCls = false;
    if (guide && opts.classifierGrad && opts.classifierLabels) {
      for (let s = 0; s < n; s++) {
        appliedCls[s] = requestedCls[s];
        if (requestedCls[s] !== 0) anyCls = true;
      }
    }
    const unetStep = async (): Promise<Float32Array> => {
      if (rows === n) return denoise(x, timesteps, opts.unetLabels, shape);
      let b = batches.get(rows);
      if (!b) batches.set(rows, (b = { x: new Float32Array(rows * plane), t: new Float32Array(rows), y: new Int32Array(rows) }));
      b.x.set(x);
      b.t.fill(timestep);
      b.y.set(opts.unetLabels as Int32Array);
      for (let s = 0; s < n; s++) {
        const r = nullRow[s];
        if (r < 0) continue;
        b.x.set(x.subarray(s * plane, (s + 1) * plane), r * plane);
        b.y[r] = (opts.nullLabels as Int32Array)[s];
      }
      const raw = await denoise(b.x, b.t, b.y, [rows, c, h, w]);
      if (raw.length % rows !== 0) throw new Error(`model output has ${raw.length} values for a guided batch of ${rows} rows`);
      const outSize = (raw.length / rows) * n;
      if (!combined || combined.length !== outSize) combined = new Float32Array(outSize);
      return cfgCombineInto(raw, n, h * w, nullRow, appliedCfg, combined);
    };
    // The gradient at x_t (the reference's choice) does not depend on the U-Net's output, so it is
    // requested right after the U-Net, before either result is awaited: on WebGPU both graphs are
    // queued back to back and read back together; on wasm the session queue runs them in turn.
    const unetPending = unetStep();
    let gradPending: Promise<ClassifierGradResult> | null = null;
    if (anyCls && !gradAtMean) {
      gradPending = classifierGradOf(x, timesteps, appliedCls);
      gradPending.catch(() => undefined); // awaited below; a U-Net failure must not leave it unhandled
    }
    const modelOutput = await unetPending;
    const at: StepAt = { done, numSteps, timestep };
    const scalesText = () => `classifier scale ${+requestedCls[0].toPrecision(6)}, classifier-free scale ${+requestedCfg[0].toPrecision(6)}`;
    checkFinite(modelOutput, 'unetOutput', at, scalesText);
    pMeanVarianceInto(p, modelOutput, x, i, shape, clip, mv);

    let logp: Float32Array | null = null;
    let grad: Float32Array | null = null;
    if (anyCls) {
      // Issue #51: the gradient at the mean μ, which estimates x_{t-1}, so with the next step's
      // timestep (0 after the last one).
      const g = await (gradPending ?? classifierGradOf(mv.mean, gradTimesteps.fill(i > 0 ? p.timestepMap[i - 1] : 0), appliedCls));
      logp = g.logp;
      grad = g.grad;
      checkFinite(grad, 'classifierGrad', at, scalesText);
      if (appliedCls.every((v) => v === appliedCls[0])) {
        if (opts.useDdim) conditionScore(p, mv, x, i, grad, appliedCls[0]);
        else conditionMean(mv, grad, appliedCls[0]);
      } else {
        // Per-sample scales: guide each sample on its own slice; samples at 0 keep the unguided step exactly.
        for (let s = 0; s < n; s++) {
          if (appliedCls[s] === 0) continue;
          const gs = grad.subarray(s * plane, (s + 1) * plane);
          if (opts.useDdim) conditionScore(p, views[s], x.subarray(s * plane, (s + 1) * plane), i, gs, appliedCls[s]);
          else conditionMean(views[s], gs, appliedCls[s]);
        }
      }
    }

    fillNoise(noise, noiseSlices);
    if (opts.useDdim) ddimSampleInto(p, mv, x, i, noise, eta, next);
    else pSampleInto(mv, noise, i, next);
    checkFinite(next, 'sample', at, () => `${scalesText()}: is the guidance scale too large?`);
    checkFinite(mv.predXstart, 'predXstart', at, scalesText);
    [x, next] = [next, x];

    yield {
      step: done, numSteps, index: i, timestep, x, predXstart: mv.predXstart, logp,
      classifierScale: appliedCls[0], cfgScale: appliedCfg[0], classifierScales: appliedCls, cfgScales: appliedCfg, unetRows: rows,
      grad, variance: mv.variance,
    };
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
