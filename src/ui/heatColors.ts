// The guidance heat map's colours: the classic "hot" ramp (black, red, yellow, white), each frame
// normalised to its own maximum so the pattern stays visible as the magnitude changes by orders.

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** RGBA pixels of `heat` (one value per pixel) into `out` (4 bytes per pixel); max <= 0 paints black. */
export function heatToRgba<T extends Uint8ClampedArray>(heat: Float32Array, max: number, out: T): T {
  if (out.length !== heat.length * 4) throw new Error(`heat map RGBA needs ${heat.length * 4} bytes (got ${out.length})`);
  const inv = max > 0 ? 1 / max : 0;
  for (let p = 0; p < heat.length; p++) {
    const t = clamp01(heat[p] * inv);
    out[4 * p] = 255 * clamp01(3 * t);
    out[4 * p + 1] = 255 * clamp01(3 * t - 1);
    out[4 * p + 2] = 255 * clamp01(3 * t - 2);
    out[4 * p + 3] = 255;
  }
  return out;
}
