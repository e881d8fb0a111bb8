// Non-finite values (issue 13): the shared sampling loop (CLI and worker) stops at the first step
// that makes NaN or ±Infinity and says which step, which timestep and what, instead of clipping it
// away or writing black pixels.
import { describe, expect, it } from 'vitest';
import { NonFiniteError, createGaussianRng, createProcess, sampleToEnd, type DenoiseFn, type SampleOptions, type Shape4 } from '../../../src/diffusion';
import { fakeDenoise, fakeGrad } from './fakes';

const shape: Shape4 = [2, 3, 4, 4];
const labels = Int32Array.of(1, 2);

function opts(over: Partial<SampleOptions> = {}): SampleOptions {
  return {
    process: createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: 'ddim10', learnSigma: true }),
    shape,
    denoise: fakeDenoise(true),
    unetLabels: labels,
    classifierGrad: fakeGrad,
    classifierLabels: labels,
    getClassifierScale: () => 1,
    useDdim: true,
    rng: createGaussianRng(3),
    ...over,
  };
}

/** The fake U-Net, poisoned with `value` from the `fromCall`-th call (1-based) on. */
function poisoned(value: number, fromCall: number): DenoiseFn {
  const inner = fakeDenoise(true);
  let calls = 0;
  return async (...args) => {
    const out = await inner(...args);
    if (++calls >= fromCall) out[5] = value;
    return out;
  };
}

describe('sampleLoop refuses non-finite values', () => {
  it('a huge guidance scale (1e38) fails at the step that overflows, not as a black image', async () => {
    await expect(sampleToEnd(opts({ getClassifierScale: () => 1e38 }))).rejects.toThrow(
      /^sampling step 1\/10 \(timestep 900\): the new sample is not finite \(\d+ of 96 values .*classifier scale 1e\+38, .*too large\?\)$/,
    );
    // DDPM adds s·Σ·∇ to the mean: 1e38 times a small variance still fits a float32 at step 1.
    await expect(sampleToEnd(opts({ getClassifierScale: () => 1e38, useDdim: false }))).rejects.toThrow(
      /^sampling step 2\/10 \(timestep 800\): the new sample is not finite .*classifier scale 1e\+38/,
    );
  });

  it.each([
    [NaN, 3, /^sampling step 3\/10 \(timestep 700\): the U-Net output is not finite \(1 of 192 values NaN or ±Infinity, the first NaN at index 5/],
    [Infinity, 1, /^sampling step 1\/10 \(timestep 900\): the U-Net output is not finite \(.*the first Infinity at index 5/],
    [-Infinity, 10, /^sampling step 10\/10 \(timestep 0\): the U-Net output is not finite/],
  ])('a U-Net output of %s from call %i is named', async (value, fromCall, message) => {
    await expect(sampleToEnd(opts({ denoise: poisoned(value, fromCall) }))).rejects.toThrow(message);
  });

  it('says where as a typed field too, so callers need not match the message', async () => {
    const err = await sampleToEnd(opts({ denoise: poisoned(NaN, 1) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as NonFiniteError).source).toBe('unetOutput');
    const big = await sampleToEnd(opts({ getClassifierScale: () => 1e38 })).catch((e: unknown) => e);
    expect((big as NonFiniteError).source).toBe('sample');
  });

  it('a NaN classifier gradient is named', async () => {
    const grad: SampleOptions['classifierGrad'] = async (...args) => {
      const g = await fakeGrad(...args);
      g.grad[0] = NaN;
      return g;
    };
    await expect(sampleToEnd(opts({ classifierGrad: grad }))).rejects.toThrow(/^sampling step 1\/10 \(timestep 900\): the classifier gradient is not finite/);
  });

  it('finite runs are untouched, guided or not, up to the scale limit of the app', async () => {
    for (const s of [0, 1, 20]) {
      const x = await sampleToEnd(opts({ getClassifierScale: () => s }));
      expect(x?.every((v) => Number.isFinite(v))).toBe(true);
    }
  });
});
