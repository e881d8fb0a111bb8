// Classifier-free guidance (Ho & Salimans 2022) and the per-sample guidance scales of the loop.
//
// The U-Net runs ONCE per step on a batch of N + M rows: the N conditional rows (x_t, y), then one
// null-label row (x_t, ∅) for each of the M samples whose CFG scale w is non-zero at that step (all N
// in the usual case: a batch of 2N). The combination keeps the conditional branch's variance channels:
//   ε̂ = ε(x_t, y) + w · (ε(x_t, y) − ε(x_t, ∅))   on the first 3 channels (ε, or x_0 for START_X),
//   v̂ = v(x_t, y)                                  on the learned-range channels (if any).
// Mirrors adm/diffusion.py's cfg_combine (float32 rounding after each operation).

import type { Shape4 } from './types';

const f32 = Math.fround;

/** A guidance scale: one value for the whole batch, or one per sample (length N). */
export type GuidanceScale = number | Float32Array;

/** The scales of one step: classifier guidance s and classifier-free guidance w. */
export interface GuidanceScales {
  classifier: GuidanceScale;
  cfg: GuidanceScale;
}

/** Original timesteps [lo, hi] (inclusive) where guidance applies (Kynkäänniemi et al. 2024). */
export type GuidanceInterval = readonly [number, number];

/** `scale` as N per-sample values written into `out`; throws on a wrong length or a non-finite value. */
export function scalesPerSample(scale: GuidanceScale, out: Float32Array, what: string): Float32Array {
  if (typeof scale === 'number') {
    if (!Number.isFinite(scale)) throw new Error(`${what} scale must be a finite number (got ${scale})`);
    return out.fill(scale);
  }
  if (scale.length !== out.length) throw new Error(`${what} scales have ${scale.length} entries for a batch of ${out.length}`);
  for (let s = 0; s < scale.length; s++) {
    if (!Number.isFinite(scale[s])) throw new Error(`${what} scale of sample ${s} must be a finite number (got ${scale[s]})`);
  }
  out.set(scale);
  return out;
}

/** Whether guidance applies at original timestep t (no interval: always). */
export function inGuidanceInterval(t: number, interval: GuidanceInterval | null | undefined): boolean {
  return !interval || (t >= interval[0] && t <= interval[1]);
}

/** Throws unless [lo, hi] are whole numbers with 0 <= lo <= hi. */
export function checkGuidanceInterval(interval: GuidanceInterval): void {
  const [lo, hi] = interval;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < lo) {
    throw new Error(`guidance interval must be whole timesteps 0 <= lo <= hi (got ${lo},${hi})`);
  }
}

/**
 * Combines a guided U-Net batch of rows = N + M into N model outputs, in `dst` ([N, C, H, W]).
 * `nullRow[s]` is the row of sample s's null-label output (N..N+M-1), or -1 when s is not guided:
 * then its conditional output is copied unchanged. `scales[s]` is w of sample s.
 */
export function cfgCombineInto(
  batchOutput: Float32Array, n: number, hw: number, nullRow: ArrayLike<number>, scales: ArrayLike<number>, dst: Float32Array,
): Float32Array {
  let rows = n;
  for (let s = 0; s < n; s++) if (nullRow[s] >= 0) rows++;
  const per = batchOutput.length / rows; // values per row: C * H * W
  const channels = per / hw;
  if (!Number.isInteger(per) || !(channels === 3 || channels === 6)) {
    throw new Error(`guided U-Net output has ${batchOutput.length} values: expected ${rows} rows of 3 or 6 channels of ${hw} pixels`);
  }
  if (dst.length !== n * per) throw new Error(`combined output needs ${n * per} values (got ${dst.length})`);
  if (nullRow.length !== n || scales.length !== n) throw new Error(`nullRow and scales need ${n} entries`);
  const eps = 3 * hw;
  for (let s = 0; s < n; s++) {
    const c0 = s * per;
    const r = nullRow[s];
    if (r < 0) {
      dst.set(batchOutput.subarray(c0, c0 + per), c0);
      continue;
    }
    if (r < n || r >= rows) throw new Error(`null row ${r} of sample ${s} is outside ${n}..${rows - 1}`);
    const u0 = r * per;
    const w = f32(scales[s]);
    for (let k = 0; k < eps; k++) {
      const c = batchOutput[c0 + k];
      dst[c0 + k] = f32(c + f32(w * f32(c - batchOutput[u0 + k])));
    }
    if (per > eps) dst.set(batchOutput.subarray(c0 + eps, c0 + per), c0 + eps);
  }
  return dst;
}

/**
 * The plain 2N case (adm/diffusion.py cfg_combine): `output` holds N conditional rows then N null-label
 * rows, `shape` is the shape of the 2N batch; w is one number or one per sample. Returns [N, C, H, W].
 */
export function cfgCombine(output: Float32Array, shape: Shape4, scale: GuidanceScale): Float32Array {
  const [rows, c, h, w] = shape;
  if (rows % 2 !== 0) throw new Error(`classifier-free guidance needs 2N rows (conditional, then null label), got ${rows}`);
  if (output.length !== rows * c * h * w) throw new Error(`output has ${output.length} values, shape ${shape.join('x')} needs ${rows * c * h * w}`);
  const n = rows / 2;
  const scales = scalesPerSample(scale, new Float32Array(n), 'cfg');
  const nullRow = Int32Array.from({ length: n }, (_, s) => n + s);
  return cfgCombineInto(output, n, h * w, nullRow, scales, new Float32Array(n * c * h * w));
}
