// Classifier-free guidance as a wrapper around the U-Net (cfg.ts has the combination): a denoiser
// that, given each sample's scale w, runs the U-Net ONCE on the N conditional rows plus one null-label
// row per sample with w != 0, and returns the N combined outputs. With every w = 0 it is the U-Net.
import { cfgCombineInto } from './cfg';
import { rowBatches } from './rowBatch';
import type { DenoiseFn, Shape4 } from './types';

export interface CfgOutput {
  /** [N, C, H, W] model output, guided where w != 0. Owned by the denoiser: read it before the next call. */
  output: Float32Array;
  /** Rows of the U-Net batch: N plus one per guided sample. */
  rows: number;
}

/** (x_t, timesteps, w per sample) -> the guided model output. The U-Net is called before it returns. */
export type CfgDenoiser = (x: Float32Array, timesteps: Float32Array, w: Float32Array) => Promise<CfgOutput>;

/**
 * `denoise` guided classifier-free: sample s's null row is (x_t[s], nullLabels[s]). Without nullLabels
 * (or unetLabels) no sample can be guided: every w must then be 0.
 */
export function cfgDenoiser(denoise: DenoiseFn, shape: Shape4, unetLabels: Int32Array | null, nullLabels: Int32Array | null): CfgDenoiser {
  const [n, c, h, w] = shape;
  const plane = c * h * w;
  const nullRow = new Int32Array(n);
  const batch = rowBatches(plane);
  let combined: Float32Array | null = null;
  return (x, timesteps, scales) => {
    let rows = n;
    for (let s = 0; s < n; s++) nullRow[s] = scales[s] !== 0 && nullLabels && unetLabels ? rows++ : -1;
    if (rows === n) return denoise(x, timesteps, unetLabels, shape).then((output) => ({ output, rows }));
    const b = batch(rows);
    b.x.set(x);
    b.t.set(timesteps);
    b.y.set(unetLabels as Int32Array);
    for (let s = 0; s < n; s++) {
      const r = nullRow[s];
      if (r < 0) continue;
      b.x.set(x.subarray(s * plane, (s + 1) * plane), r * plane);
      b.t[r] = timesteps[s];
      b.y[r] = (nullLabels as Int32Array)[s];
    }
    return denoise(b.x, b.t, b.y, [rows, c, h, w]).then((raw) => {
      if (raw.length % rows !== 0) throw new Error(`model output has ${raw.length} values for a guided batch of ${rows} rows`);
      const outSize = (raw.length / rows) * n;
      if (!combined || combined.length !== outSize) combined = new Float32Array(outSize);
      return { output: cfgCombineInto(raw, n, h * w, nullRow, scales, combined), rows };
    });
  };
}
