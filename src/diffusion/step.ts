// One reverse step: p(x_{t-1} | x_t) from the model output, classifier guidance, and the ancestral
// (DDPM) or DDIM update. All functions work on flat NCHW Float32Arrays for one respaced index t shared
// by the batch. The *Into variants write into caller-owned buffers (no allocation in the sampling loop).
//
// Coefficients are rounded to float32 (Math.fround) before use, as the reference gathers its float64
// tables into float32 tensors; the element arithmetic itself runs in float64 and is rounded on store.

import type { Shape4 } from './types';
import type { DiffusionProcess } from './process';

/** Output of pMeanVariance: all [N, 3, H, W]. */
export interface MeanVariance {
  mean: Float32Array;
  variance: Float32Array;
  logVariance: Float32Array;
  predXstart: Float32Array;
}

export function allocMeanVariance(size: number): MeanVariance {
  return {
    mean: new Float32Array(size),
    variance: new Float32Array(size),
    logVariance: new Float32Array(size),
    predXstart: new Float32Array(size),
  };
}

const f32 = Math.fround;

function checkIndex(p: DiffusionProcess, t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= p.numTimesteps) {
    throw new Error(`respaced index ${t} is outside 0..${p.numTimesteps - 1}`);
  }
}

function imageSize(shape: Shape4, x: Float32Array): number {
  const [n, c, h, w] = shape;
  if (c !== 3) throw new Error(`images must have 3 channels (shape ${shape.join('x')})`);
  if (x.length !== n * c * h * w) throw new Error(`x has ${x.length} values, shape ${shape.join('x')} needs ${n * c * h * w}`);
  return n * c * h * w;
}

/**
 * Mean and variance of p(x_{t-1} | x_t), and the predicted x_0 (clipped to [-1, 1] when clipDenoised).
 * modelOutput is [N, 6, H, W] (eps or x_0, then v) for learnedRange, [N, 3 or 6, H, W] otherwise.
 * learnedRange: log σ² = frac·log β_t + (1 − frac)·log β̃_t (clipped), frac = (v + 1) / 2, v unclamped.
 */
export function pMeanVarianceInto(
  p: DiffusionProcess, modelOutput: Float32Array, x: Float32Array, t: number, shape: Shape4,
  clipDenoised: boolean, out: MeanVariance,
): MeanVariance {
  checkIndex(p, t);
  const size = imageSize(shape, x);
  const [n, , h, w] = shape;
  const hw = h * w;
  const plane = 3 * hw;
  const outC = modelOutput.length / (n * hw);
  if (outC !== 6 && !(outC === 3 && p.modelVarType !== 'learnedRange')) {
    throw new Error(`model output has ${modelOutput.length} values: expected ${n}x${p.modelVarType === 'learnedRange' ? 6 : 3}x${h}x${w}`);
  }
  for (const buf of [out.mean, out.variance, out.logVariance, out.predXstart]) {
    if (buf.length !== size) throw new Error('output buffers must have the size of x');
  }
  const recip = f32(p.sqrtRecipAlphasCumprod[t]);
  const recipm1 = f32(p.sqrtRecipm1AlphasCumprod[t]);
  const c1 = f32(p.posteriorMeanCoef1[t]);
  const c2 = f32(p.posteriorMeanCoef2[t]);
  const minLog = f32(p.posteriorLogVarianceClipped[t]);
  const maxLog = f32(p.logBetas[t]);
  let fixedVar = 0;
  let fixedLog = 0;
  if (p.modelVarType === 'fixedSmall') {
    fixedVar = f32(p.posteriorVariance[t]);
    fixedLog = minLog;
  } else if (p.modelVarType === 'fixedLarge') {
    fixedVar = f32(p.fixedLargeVariance[t]);
    fixedLog = f32(Math.log(p.fixedLargeVariance[t]));
  }
  const learned = p.modelVarType === 'learnedRange';
  for (let s = 0; s < n; s++) {
    const xo = s * plane;
    const mo = s * outC * hw;
    for (let k = 0; k < plane; k++) {
      const xt = x[xo + k];
      const m = modelOutput[mo + k];
      let x0 = p.predictXstart ? m : f32(recip * xt) - f32(recipm1 * m);
      if (clipDenoised) x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
      x0 = f32(x0);
      out.predXstart[xo + k] = x0;
      out.mean[xo + k] = f32(c1 * x0) + f32(c2 * xt);
      if (learned) {
        const frac = (modelOutput[mo + plane + k] + 1) / 2;
        const logVar = f32(frac * maxLog) + f32((1 - frac) * minLog);
        out.logVariance[xo + k] = logVar;
        out.variance[xo + k] = Math.exp(f32(logVar));
      } else {
        out.logVariance[xo + k] = fixedLog;
        out.variance[xo + k] = fixedVar;
      }
    }
  }
  return out;
}

/** Allocating wrapper of pMeanVarianceInto (tests, one-off use). */
export function pMeanVariance(
  p: DiffusionProcess, modelOutput: Float32Array, x: Float32Array, t: number, shape: Shape4, clipDenoised = true,
): MeanVariance {
  return pMeanVarianceInto(p, modelOutput, x, t, shape, clipDenoised, allocMeanVariance(x.length));
}

/**
 * Guidance for the ancestral sampler (paper Alg. 1), in place: mean += Σ · classifierScale · grad.
 * grad = ∇ log p(y | x_t) evaluated at the step's INPUT x_t (as the reference does, not at the mean).
 */
export function conditionMean(out: MeanVariance, grad: Float32Array, classifierScale: number): MeanVariance {
  if (grad.length !== out.mean.length) throw new Error('gradient must have the size of x');
  for (let k = 0; k < grad.length; k++) {
    out.mean[k] = out.mean[k] + out.variance[k] * f32(classifierScale * grad[k]);
  }
  return out;
}

/**
 * Guidance for DDIM (paper Alg. 2), in place: eps is re-derived from predXstart, shifted by
 * −sqrt(1 − ᾱ_t) · classifierScale · grad, and predXstart/mean are recomputed from it.
 * The new predXstart is NOT clipped again (reference behaviour).
 */
export function conditionScore(
  p: DiffusionProcess, out: MeanVariance, x: Float32Array, t: number, grad: Float32Array, classifierScale: number,
): MeanVariance {
  checkIndex(p, t);
  if (grad.length !== x.length || out.mean.length !== x.length) throw new Error('gradient must have the size of x');
  const recip = f32(p.sqrtRecipAlphasCumprod[t]);
  const recipm1 = f32(p.sqrtRecipm1AlphasCumprod[t]);
  const sqrtOneMinusAb = f32(Math.sqrt(1 - f32(p.alphasCumprod[t])));
  const c1 = f32(p.posteriorMeanCoef1[t]);
  const c2 = f32(p.posteriorMeanCoef2[t]);
  for (let k = 0; k < x.length; k++) {
    const xt = x[k];
    const scaledX = f32(recip * xt);
    let eps = f32((scaledX - out.predXstart[k]) / recipm1);
    eps = f32(eps - f32(sqrtOneMinusAb * f32(classifierScale * grad[k])));
    const x0 = f32(scaledX - f32(recipm1 * eps));
    out.predXstart[k] = x0;
    out.mean[k] = f32(c1 * x0) + f32(c2 * xt);
  }
  return out;
}

/** Ancestral step: dst = mean + [t > 0] · exp(½ log σ²) · noise. */
export function pSampleInto(out: MeanVariance, noise: Float32Array, t: number, dst: Float32Array): Float32Array {
  if (noise.length !== out.mean.length || dst.length !== out.mean.length) throw new Error('noise and output must have the size of x');
  if (t === 0) {
    dst.set(out.mean);
    return dst;
  }
  for (let k = 0; k < dst.length; k++) {
    dst[k] = out.mean[k] + f32(Math.exp(0.5 * out.logVariance[k])) * noise[k];
  }
  return dst;
}

/**
 * DDIM step (eta = 0: deterministic). eps is re-derived from predXstart (the clipped and possibly
 * guided x_0), σ = eta·sqrt((1 − ᾱ_prev)/(1 − ᾱ))·sqrt(1 − ᾱ/ᾱ_prev),
 * dst = x_0·sqrt(ᾱ_prev) + sqrt(1 − ᾱ_prev − σ²)·eps + [t > 0]·σ·noise.
 */
export function ddimSampleInto(
  p: DiffusionProcess, out: MeanVariance, x: Float32Array, t: number, noise: Float32Array, eta: number, dst: Float32Array,
): Float32Array {
  checkIndex(p, t);
  if (noise.length !== x.length || dst.length !== x.length) throw new Error('noise and output must have the size of x');
  if (!Number.isFinite(eta) || eta < 0) throw new Error(`eta must be a non-negative number (got ${eta})`);
  const recip = f32(p.sqrtRecipAlphasCumprod[t]);
  const recipm1 = f32(p.sqrtRecipm1AlphasCumprod[t]);
  const ab = f32(p.alphasCumprod[t]);
  const abPrev = f32(p.alphasCumprodPrev[t]);
  const sigma = f32(eta * Math.sqrt(f32((1 - abPrev) / (1 - ab))) * Math.sqrt(f32(1 - ab / abPrev)));
  const cX0 = f32(Math.sqrt(abPrev));
  const cEps = f32(Math.sqrt(Math.max(0, f32(1 - abPrev - f32(sigma * sigma)))));
  const cNoise = t === 0 ? 0 : sigma;
  for (let k = 0; k < x.length; k++) {
    const x0 = out.predXstart[k];
    const eps = f32((f32(recip * x[k]) - x0) / recipm1);
    dst[k] = f32(x0 * cX0) + f32(cEps * eps) + cNoise * noise[k];
  }
  return dst;
}

/** Allocating wrappers, mirroring the reference's p_sample / ddim_sample (for tests and tools). */
export function pSample(
  p: DiffusionProcess, modelOutput: Float32Array, x: Float32Array, t: number, shape: Shape4, noise: Float32Array,
  opts: { clipDenoised?: boolean; grad?: Float32Array; classifierScale?: number } = {},
): { sample: Float32Array; predXstart: Float32Array } {
  const out = pMeanVariance(p, modelOutput, x, t, shape, opts.clipDenoised ?? true);
  if (opts.grad) conditionMean(out, opts.grad, opts.classifierScale ?? 1);
  return { sample: pSampleInto(out, noise, t, new Float32Array(x.length)), predXstart: out.predXstart };
}

export function ddimSample(
  p: DiffusionProcess, modelOutput: Float32Array, x: Float32Array, t: number, shape: Shape4, noise: Float32Array,
  opts: { clipDenoised?: boolean; grad?: Float32Array; classifierScale?: number; eta?: number } = {},
): { sample: Float32Array; predXstart: Float32Array } {
  const out = pMeanVariance(p, modelOutput, x, t, shape, opts.clipDenoised ?? true);
  if (opts.grad) conditionScore(p, out, x, t, opts.grad, opts.classifierScale ?? 1);
  return { sample: ddimSampleInto(p, out, x, t, noise, opts.eta ?? 0, new Float32Array(x.length)), predXstart: out.predXstart };
}
