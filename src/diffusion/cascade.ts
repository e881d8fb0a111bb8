// The cascade's second stage (docs/pack-format.md, "Upsampler cascade"), shared by the Node CLI and the
// worker: the base model's samples become the upsampler's low_res input, and the upsampler runs the same
// sampling loop, unguided, with its own process and sampling defaults.

import type { DenoiseFn, Shape4 } from './types';
import type { GaussianRng } from './rng';
import { createProcessForPack, type DiffusionProcess, type DiffusionSpec, type PackProcessSpec } from './process';
import type { StepRecord } from './loop';
import { sampleLoop } from './sampleLoop';

/** Noise streams of the upsampler's batches start here: batch b of a run with seed s draws from createGaussianRng(s, UPSAMPLE_STREAM + b). */
export const UPSAMPLE_STREAM = 1 << 20;

/**
 * The base samples as the upsampler gets them: 8-bit images mapped back to [-1, 1], as the reference's
 * super_res_sample.py reads its base samples from an .npz of uint8 images ((x + 1) * 127.5, clamped, truncated).
 */
export function quantizeLowRes(x: Float32Array): Float32Array {
  return Float32Array.from(x, (v) => Math.trunc(Math.min(255, Math.max(0, (v + 1) * 127.5))) / 127.5 - 1);
}

/**
 * What the cascade reads of its second stage, a super-resolution U-Net (guided-diffusion's SuperResModel)
 * that takes the base model's imageSize samples as `low_res` and runs its own diffusion process, unguided.
 * The manifest's `upsampler` entry is this plus its graph file.
 */
export interface UpsamplerSpec {
  imageSize: number;
  /** = the base model's imageSize. */
  lowResSize: number;
  learnSigma: boolean;
  classCond: boolean;
  diffusion: DiffusionSpec;
  sampling: { timestepRespacing: string; useDdim: boolean };
}

/** The upsampler's own (respaced) diffusion process; `timestepRespacing` overrides its recommended one. */
export function upsamplerProcess(m: PackProcessSpec & { upsampler: UpsamplerSpec }, timestepRespacing?: string): DiffusionProcess {
  const up = m.upsampler;
  return createProcessForPack(
    { ...m, learnSigma: up.learnSigma, diffusion: up.diffusion, sampling: { ...m.sampling, ...up.sampling } },
    timestepRespacing ?? up.sampling.timestepRespacing,
  );
}

export interface UpsampleOptions {
  upsampler: UpsamplerSpec;
  process: DiffusionProcess;
  /** The base model's finished samples [N, 3, lowResSize, lowResSize] (quantized here). */
  base: Float32Array;
  /** The upsampler as a DenoiseFn fed with `lowRes` (ortDenoiser / createUpsamplerSession). */
  denoiseWith: (lowRes: Float32Array) => DenoiseFn;
  /** U-Net labels of the N samples (the base model's label space); required by a class-conditional upsampler. */
  labels: Int32Array | null;
  rng: GaussianRng;
  useDdim?: boolean;
  eta?: number;
  shouldStop?: () => boolean;
}

/** The upsampler's sampling loop: one StepRecord per step, x at the upsampler's imageSize. */
export function upsampleLoop(o: UpsampleOptions): AsyncGenerator<StepRecord> {
  const up = o.upsampler;
  const s = up.lowResSize;
  const n = o.base.length / (3 * s * s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`the base samples hold ${o.base.length} values, not N x 3 x ${s} x ${s}`);
  if (up.classCond && (!o.labels || o.labels.length !== n)) throw new Error('this upsampler is class-conditional: it needs one label per sample');
  const shape: Shape4 = [n, 3, up.imageSize, up.imageSize];
  return sampleLoop({
    process: o.process, shape, denoise: o.denoiseWith(quantizeLowRes(o.base)), unetLabels: up.classCond ? o.labels : null,
    getScales: () => ({ classifier: 0, cfg: 0 }),
    useDdim: o.useDdim ?? up.sampling.useDdim, eta: o.eta, rng: o.rng, shouldStop: o.shouldStop,
  });
}
