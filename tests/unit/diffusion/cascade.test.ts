// The cascade's second stage (src/diffusion/cascade.ts): low_res as the reference reads base samples, the
// upsampler's own process, and a loop at the upsampler's size that feeds every call the base samples.
import { describe, expect, it } from 'vitest';
import {
  UPSAMPLE_STREAM, createGaussianRng, quantizeLowRes, upsampleLoop, upsamplerProcess, type DenoiseFn, type Shape4,
} from '../../../src/diffusion';
import type { PackManifest, UpsamplerGraph } from '../../../src/shared/manifest';
import { fakeManifest } from '../app/fakes';

const UP: UpsamplerGraph = {
  file: 'upsampler.onnx', dtype: 'float32', bytes: 10, sha256: 'a'.repeat(64), inputs: ['x', 'timesteps', 'low_res', 'y'],
  outputs: ['model_output'], imageSize: 16, lowResSize: 8, learnSigma: true, classCond: true,
  diffusion: { noiseSchedule: 'linear', diffusionSteps: 1000, predictXstart: false, rescaleTimesteps: false },
  sampling: { timestepRespacing: '5', useDdim: false },
};
const M = { ...fakeManifest(), upsampler: UP } as PackManifest & { upsampler: UpsamplerGraph };

describe('cascade', () => {
  it('quantizes like uint8 base samples read back: trunc((x + 1) * 127.5) / 127.5 - 1, clamped', () => {
    const q = quantizeLowRes(Float32Array.from([-2, -1, 0, 0.999, 1, 3, -0.5]));
    const want = [0, 0, 127, 254, 255, 255, 63].map((v) => v / 127.5 - 1);
    q.forEach((v, k) => expect(v).toBeCloseTo(want[k], 6));
  });

  it("uses the upsampler's own schedule and respacing", () => {
    const p = upsamplerProcess(M);
    expect(p.noiseSchedule).toBe('linear');
    expect(p.numTimesteps).toBe(5);
    expect(upsamplerProcess(M, '3').numTimesteps).toBe(3);
    expect(UPSAMPLE_STREAM).toBe(2 ** 20);
  });

  it('runs unguided at the upsampler size, feeding the quantized base samples and labels to every call', async () => {
    const n = 2;
    const base = Float32Array.from({ length: n * 3 * 8 * 8 }, (_, k) => Math.sin(k));
    const seen: { lowRes: Float32Array; shape: Shape4; y: Int32Array | null }[] = [];
    const denoiseWith = (lowRes: Float32Array): DenoiseFn => async (x, _t, y, shape) => {
      seen.push({ lowRes, shape, y });
      const out = new Float32Array(shape[0] * 6 * shape[2] * shape[3]);
      out.set(x.map((v) => 0.1 * v));
      return out;
    };
    let last: Float32Array | null = null;
    let steps = 0;
    for await (const rec of upsampleLoop({
      upsampler: UP, process: upsamplerProcess(M), base, denoiseWith, labels: Int32Array.from([1, 2]),
      rng: createGaussianRng(7, UPSAMPLE_STREAM),
    })) {
      last = rec.x;
      steps++;
      expect(rec.classifierScale).toBe(0);
      expect(rec.unetRows).toBe(n);
    }
    expect(steps).toBe(5);
    expect(last?.length).toBe(n * 3 * 16 * 16);
    expect(seen).toHaveLength(5);
    expect(seen[0].shape).toEqual([2, 3, 16, 16]);
    expect(Array.from(seen[0].y ?? [])).toEqual([1, 2]);
    expect(Array.from(seen[0].lowRes)).toEqual(Array.from(quantizeLowRes(base)));
  });

  it('refuses a class-conditional upsampler without labels and base samples of the wrong size', () => {
    const denoiseWith = (): DenoiseFn => async () => new Float32Array(0);
    const rng = createGaussianRng(0);
    expect(() => upsampleLoop({ upsampler: UP, process: upsamplerProcess(M), base: new Float32Array(192), denoiseWith, labels: null, rng }))
      .toThrow(/class-conditional/);
    expect(() => upsampleLoop({ upsampler: UP, process: upsamplerProcess(M), base: new Float32Array(100), denoiseWith, labels: null, rng }))
      .toThrow(/N x 3 x 8 x 8/);
  });
});
