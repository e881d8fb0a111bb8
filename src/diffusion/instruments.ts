// Per-step read-outs of classifier guidance for the single-image instruments: where the guidance
// term s·Σ·∇ₓ log p(y | xₜ) pushes (a per-pixel magnitude) and how large the raw gradient is.
// Pure functions over one sample of a [N, 3, H, W] batch; the caller owns the output buffers.

import type { Shape4 } from './types';

function check(a: Float32Array, shape: Shape4, sample: number, what: string): number {
  const [n, c, h, w] = shape;
  if (c !== 3 || a.length !== n * c * h * w) throw new Error(`${what} has ${a.length} values, shape ${shape.join('x')} needs ${n * c * h * w}`);
  if (!Number.isInteger(sample) || sample < 0 || sample >= n) throw new Error(`sample ${sample} is outside 0..${n - 1}`);
  return sample * c * h * w;
}

/**
 * out[p] = Σ_c |s · Σ[c, p] · g[c, p]| for the H·W pixels of `sample` (channel-summed magnitude of
 * the mean shift classifier guidance applies in an ancestral step). Returns the largest value.
 */
export function guidanceHeatInto(
  grad: Float32Array, variance: Float32Array, scale: number, shape: Shape4, sample: number, out: Float32Array,
): number {
  const base = check(grad, shape, sample, 'grad');
  check(variance, shape, sample, 'variance');
  const hw = shape[2] * shape[3];
  if (out.length !== hw) throw new Error(`heat map needs ${hw} values (got ${out.length})`);
  const s = Math.abs(scale);
  let max = 0;
  for (let p = 0; p < hw; p++) {
    let v = 0;
    for (let ch = 0; ch < 3; ch++) {
      const k = base + ch * hw + p;
      v += Math.abs(variance[k] * grad[k]);
    }
    v *= s;
    out[p] = v;
    if (v > max) max = v;
  }
  return max;
}

/** ‖g‖₂ over the 3·H·W values of `sample` (the unscaled gradient). */
export function sampleL2Norm(a: Float32Array, shape: Shape4, sample: number): number {
  const base = check(a, shape, sample, 'array');
  const plane = shape[1] * shape[2] * shape[3];
  let sq = 0;
  for (let k = base; k < base + plane; k++) sq += a[k] * a[k];
  return Math.sqrt(sq);
}
