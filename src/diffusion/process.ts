// A (respaced) Gaussian diffusion process: every per-step coefficient the sampler needs, in float64,
// computed once. Indices are RESPACED indices i = 0..numTimesteps-1; timestepMap[i] is the original t.

import type { ModelVarType } from './types';
import { getNamedBetaSchedule, type NoiseSchedule } from './schedule';
import { respaceBetas, spaceTimesteps } from './respace';

export interface DiffusionProcess {
  noiseSchedule: NoiseSchedule;
  /** Length of the original process (T, usually 1000). */
  originalNumSteps: number;
  /** The respacing string this process was built from ("" = all steps). */
  timestepRespacing: string;
  /** Number of respaced steps. */
  numTimesteps: number;
  /** Respaced index -> original timestep; what the networks are fed. */
  timestepMap: Int32Array;
  modelVarType: ModelVarType;
  /** Model predicts x_0 directly (START_X) instead of the noise eps. */
  predictXstart: boolean;
  betas: Float64Array;
  logBetas: Float64Array;
  alphasCumprod: Float64Array;
  alphasCumprodPrev: Float64Array;
  alphasCumprodNext: Float64Array;
  sqrtAlphasCumprod: Float64Array;
  sqrtOneMinusAlphasCumprod: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_i of q(x_{t-1} | x_t, x_0); 0 at i = 0. */
  posteriorVariance: Float64Array;
  /** log β̃ with the 0 at i = 0 replaced by β̃_1 (so the log is finite). */
  posteriorLogVarianceClipped: Float64Array;
  posteriorMeanCoef1: Float64Array;
  posteriorMeanCoef2: Float64Array;
  /** Variance used by fixedLarge: [β̃_1, β_1, β_2, ...] (a better likelihood than β̃ at i = 0). */
  fixedLargeVariance: Float64Array;
}

/** The process a U-Net was trained with (a manifest's `diffusion`). */
export interface DiffusionSpec {
  noiseSchedule: NoiseSchedule;
  diffusionSteps: number;
  predictXstart: boolean;
  rescaleTimesteps: boolean;
}

/** What createProcessForPack reads of a pack (PackManifest has it; so does an upsampler's entry). */
export interface PackProcessSpec {
  learnSigma: boolean;
  diffusion: DiffusionSpec;
  sampling: { timestepRespacing: string };
}

export interface ProcessParams {
  noiseSchedule: NoiseSchedule;
  diffusionSteps: number;
  timestepRespacing: string;
  learnSigma: boolean;
  predictXstart?: boolean;
  /** Override of the variance type; default learnedRange when learnSigma, else fixedLarge (reference default). */
  modelVarType?: ModelVarType;
}

const map = (a: Float64Array, f: (v: number, i: number) => number) => a.map(f);

/** Builds all derived coefficients from (respaced) betas, following the reference's formulas. */
export function processFromBetas(
  betas: Float64Array,
  meta: Omit<DiffusionProcess, keyof ReturnType<typeof coefficients>>,
): DiffusionProcess {
  return { ...meta, ...coefficients(betas) };
}

function coefficients(betas: Float64Array) {
  const n = betas.length;
  for (const b of betas) if (!(b > 0 && b <= 1)) throw new Error(`betas must lie in (0, 1] (got ${b})`);
  const alphas = map(betas, (b) => 1 - b);
  const alphasCumprod = new Float64Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) alphasCumprod[i] = acc = acc * alphas[i];
  const alphasCumprodPrev = map(alphasCumprod, (_, i) => (i === 0 ? 1 : alphasCumprod[i - 1]));
  const alphasCumprodNext = map(alphasCumprod, (_, i) => (i === n - 1 ? 0 : alphasCumprod[i + 1]));
  const posteriorVariance = map(betas, (b, i) => (b * (1 - alphasCumprodPrev[i])) / (1 - alphasCumprod[i]));
  // With a single step there is no β̃_1; fall back to β̃_0 (= 0 → -inf), only reachable with "1".
  const pv1 = n > 1 ? posteriorVariance[1] : posteriorVariance[0];
  return {
    betas: Float64Array.from(betas),
    logBetas: map(betas, Math.log),
    alphasCumprod,
    alphasCumprodPrev,
    alphasCumprodNext,
    sqrtAlphasCumprod: map(alphasCumprod, Math.sqrt),
    sqrtOneMinusAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 - a)),
    sqrtRecipAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped: map(posteriorVariance, (v, i) => Math.log(i === 0 ? pv1 : v)),
    posteriorMeanCoef1: map(betas, (b, i) => (b * Math.sqrt(alphasCumprodPrev[i])) / (1 - alphasCumprod[i])),
    posteriorMeanCoef2: map(alphas, (a, i) => ((1 - alphasCumprodPrev[i]) * Math.sqrt(a)) / (1 - alphasCumprod[i])),
    fixedLargeVariance: map(betas, (b, i) => (i === 0 ? pv1 : b)),
  };
}

/**
 * The respaced process for a schedule + respacing string. Always goes through respacing (even for
 * all T steps) so the betas are bit-identical to the reference's SpacedDiffusion.
 * Throws an Error with a readable message for an unknown schedule or a bad respacing string.
 */
export function createProcess(p: ProcessParams): DiffusionProcess {
  const base = getNamedBetaSchedule(p.noiseSchedule, p.diffusionSteps);
  const baseCumprod = new Float64Array(base.length);
  let acc = 1;
  for (let i = 0; i < base.length; i++) baseCumprod[i] = acc = acc * (1 - base[i]);
  const { betas, timestepMap } = respaceBetas(baseCumprod, spaceTimesteps(p.diffusionSteps, p.timestepRespacing));
  return processFromBetas(betas, {
    noiseSchedule: p.noiseSchedule,
    originalNumSteps: p.diffusionSteps,
    timestepRespacing: p.timestepRespacing.trim(),
    numTimesteps: betas.length,
    timestepMap,
    modelVarType: p.modelVarType ?? (p.learnSigma ? 'learnedRange' : 'fixedLarge'),
    predictXstart: p.predictXstart ?? false,
  });
}

/** The process a pack's U-Net was trained for, respaced with `timestepRespacing` (default: the pack's). */
export function createProcessForPack(m: PackProcessSpec, timestepRespacing?: string): DiffusionProcess {
  if (m.diffusion.rescaleTimesteps) throw new Error('packs with rescaleTimesteps=true are not supported');
  return createProcess({
    noiseSchedule: m.diffusion.noiseSchedule,
    diffusionSteps: m.diffusion.diffusionSteps,
    timestepRespacing: timestepRespacing ?? m.sampling.timestepRespacing,
    learnSigma: m.learnSigma,
    predictXstart: m.diffusion.predictXstart,
  });
}
