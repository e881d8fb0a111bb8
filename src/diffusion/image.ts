// Sample tensors ([-1, 1] float NCHW) to 8-bit RGBA, matching the reference's uint8 conversion:
// ((x + 1) * 127.5) in float32, clamped to [0, 255], then TRUNCATED (a tensor cast, not rounding).

import type { Shape4 } from './types';

const f32 = Math.fround;

function byteOf(v: number): number {
  const s = f32(f32(v + 1) * 127.5);
  // NaN maps to 0 (clamp keeps it NaN; Uint8ClampedArray stores NaN as 0).
  return s <= 0 ? 0 : s >= 255 ? 255 : Math.floor(s);
}

/** RGBA pixels (alpha 255) of sample `sample` of a [N, 3, H, W] batch, row-major, H*W*4 bytes. */
export function toRgba(x: Float32Array, shape: Shape4, sample: number): Uint8ClampedArray {
  const [n, c, h, w] = shape;
  if (c !== 3) throw new Error(`toRgba needs 3 channels (shape ${shape.join('x')})`);
  if (x.length !== n * c * h * w) throw new Error(`x has ${x.length} values, shape ${shape.join('x')} needs ${n * c * h * w}`);
  if (!Number.isInteger(sample) || sample < 0 || sample >= n) throw new Error(`sample ${sample} is outside 0..${n - 1}`);
  const hw = h * w;
  const base = sample * 3 * hw;
  const out = new Uint8ClampedArray(hw * 4);
  for (let p = 0; p < hw; p++) {
    out[4 * p] = byteOf(x[base + p]);
    out[4 * p + 1] = byteOf(x[base + hw + p]);
    out[4 * p + 2] = byteOf(x[base + 2 * hw + p]);
    out[4 * p + 3] = 255;
  }
  return out;
}

export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/**
 * All samples of a batch tiled into one RGBA image, row-major, `cols` per row (default:
 * ceil(sqrt(N))), separated by `pad` pixels of `background` (RGBA, default opaque white).
 */
export function gridRgba(
  x: Float32Array, shape: Shape4,
  opts: { cols?: number; pad?: number; background?: readonly [number, number, number, number] } = {},
): RgbaImage {
  const [n, , h, w] = shape;
  const cols = Math.max(1, Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / cols);
  const pad = opts.pad ?? 2;
  const bg = opts.background ?? [255, 255, 255, 255];
  const width = cols * w + (cols - 1) * pad;
  const height = rows * h + (rows - 1) * pad;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let k = 0; k < data.length; k += 4) data.set(bg, k);
  for (let s = 0; s < n; s++) {
    const tile = toRgba(x, shape, s);
    const ox = (s % cols) * (w + pad);
    const oy = Math.floor(s / cols) * (h + pad);
    for (let r = 0; r < h; r++) {
      data.set(tile.subarray(r * w * 4, (r + 1) * w * 4), ((oy + r) * width + ox) * 4);
    }
  }
  return { width, height, data };
}
