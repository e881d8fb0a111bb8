// Beta schedules of the original (un-respaced) process, in float64 like the reference's numpy code.

/** The named beta schedules (a manifest's diffusion.noiseSchedule). */
export type NoiseSchedule = 'linear' | 'cosine';

/** Largest beta the cosine schedule may produce (clipping avoids a singular last step). */
export const COSINE_MAX_BETA = 0.999;

/**
 * numpy.linspace(start, stop, num) reproduced operation by operation (i * step + start, last entry
 * set to `stop`), so the values match the reference to the last bit rather than approximately.
 */
function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** ᾱ(t) of the cosine schedule (Nichol & Dhariwal), t in [0, 1]. */
function cosineAlphaBar(t: number): number {
  const c = Math.cos(((t + 0.008) / 1.008) * Math.PI / 2);
  return c * c;
}

/** Discretises a continuous ᾱ(t): beta_i = min(1 - ᾱ((i+1)/T) / ᾱ(i/T), maxBeta). */
export function betasForAlphaBar(T: number, alphaBar: (t: number) => number, maxBeta: number): Float64Array {
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const t1 = i / T;
    const t2 = (i + 1) / T;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * Betas of a named schedule over `T` steps. The linear schedule is scaled by 1000/T so that any
 * step count spans the same total noise as the 1000-step schedule of the paper.
 */
export function getNamedBetaSchedule(name: string, T: number): Float64Array {
  if (!Number.isInteger(T) || T < 1) throw new Error(`diffusion steps must be a positive integer (got ${T})`);
  if (name === 'linear') {
    const scale = 1000 / T;
    return linspace(scale * 0.0001, scale * 0.02, T);
  }
  if (name === 'cosine') return betasForAlphaBar(T, cosineAlphaBar, COSINE_MAX_BETA);
  throw new Error(`unknown noise schedule "${name}" (expected "linear" or "cosine")`);
}

/** Type guard for schedule names coming from CLI flags or JSON. */
export function isNoiseSchedule(name: string): name is NoiseSchedule {
  return name === 'linear' || name === 'cosine';
}
