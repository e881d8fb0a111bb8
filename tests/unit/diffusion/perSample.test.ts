// Per-sample noise streams, the gradient location option, and the guidance read-outs the loop
// exposes (grad, variance) for the instruments.
import { describe, expect, it } from 'vitest';
import {
  createGaussianRng, createProcess, guidanceHeatInto, pMeanVariance, meanPairwiseL2, meanPairwiseRms, sampleL2Norm, sampleLoop, sampleToEnd, softmaxRows,
  type ClassifierGradFn, type SampleOptions, type Shape4, type StepRecord,
} from '../../../src/diffusion';
import { fakeDenoise, fakeGrad } from './fakes';

const process = createProcess({ noiseSchedule: 'cosine', diffusionSteps: 1000, timestepRespacing: '8', learnSigma: true, modelVarType: 'learnedRange' });
const one: Shape4 = [1, 3, 4, 4];
const PLANE = 3 * 4 * 4;

function opts(n: number, extra: Partial<SampleOptions> = {}): SampleOptions {
  return {
    process, shape: [n, 3, 4, 4], denoise: fakeDenoise(true),
    unetLabels: new Int32Array(n).fill(1), classifierGrad: fakeGrad, classifierLabels: new Int32Array(n).fill(1),
    getScales: () => ({ classifier: 2, cfg: 0 }), useDdim: false, rng: createGaussianRng(99), ...extra,
  };
}

describe('rngPerSample', () => {
  it('a cell of a DDPM batch equals a batch-1 run with its own stream (same seed: same image in every cell)', async () => {
    const seeds = [3, 3, 11];
    const batch = await sampleToEnd(opts(3, { rngPerSample: seeds.map((s) => createGaussianRng(s)) }));
    for (let k = 0; k < seeds.length; k++) {
      const single = await sampleToEnd(opts(1, { rng: createGaussianRng(seeds[k]) }));
      expect(Array.from(batch!.subarray(k * PLANE, (k + 1) * PLANE))).toEqual(Array.from(single!));
    }
    expect(Array.from(batch!.subarray(0, PLANE))).toEqual(Array.from(batch!.subarray(PLANE, 2 * PLANE)));
    expect(Array.from(batch!.subarray(0, PLANE))).not.toEqual(Array.from(batch!.subarray(2 * PLANE)));
  });

  it('with one stream for a batch of 1 it is the default behaviour bit for bit', async () => {
    const a = await sampleToEnd(opts(1, { rng: createGaussianRng(5) }));
    const b = await sampleToEnd(opts(1, { rng: createGaussianRng(0), rngPerSample: [createGaussianRng(5)] }));
    expect(Array.from(b!)).toEqual(Array.from(a!));
  });

  it('needs one stream per sample', async () => {
    await expect(sampleToEnd(opts(2, { rngPerSample: [createGaussianRng(1)] }))).rejects.toThrow(/1 streams for a batch of 2/);
  });
});

describe('gradientAt', () => {
  function spy() {
    const calls: { x: Float32Array; t: number }[] = [];
    const grad: ClassifierGradFn = (x, t, y, s) => {
      calls.push({ x: x.slice(), t: t[0] });
      return fakeGrad(x, t, y, s);
    };
    return { calls, grad };
  }

  it("'x' (default) takes it at x_t with t; 'mean' at the unguided mean with the next step's timestep (DDPM)", async () => {
    const atX = spy();
    const xs: Float32Array[] = [];
    for await (const r of sampleLoop(opts(1, { classifierGrad: atX.grad }))) xs.push(r.x.slice());
    expect(atX.calls.map((c) => c.t)).toEqual(Array.from(process.timestepMap).reverse());
    expect(Array.from(atX.calls[1].x)).toEqual(Array.from(xs[0]));

    const atMean = spy();
    const recs: StepRecord[] = [];
    for await (const r of sampleLoop(opts(1, { classifierGrad: atMean.grad, gradientAt: 'mean' }))) recs.push(r);
    const next = [...Array.from(process.timestepMap).reverse().slice(1), 0];
    expect(atMean.calls.map((c) => c.t)).toEqual(next);
    expect(Array.from(atMean.calls[1].x)).not.toEqual(Array.from(xs[0]));
    const a = await sampleToEnd(opts(1));
    const b = await sampleToEnd(opts(1, { gradientAt: 'mean' }));
    expect(Array.from(a!)).not.toEqual(Array.from(b!));
  });

  it('the mean is the unguided posterior mean of the same step', async () => {
    const atMean = spy();
    for await (const r of sampleLoop(opts(1, { classifierGrad: atMean.grad, gradientAt: 'mean' }))) void r;
    const xT = new Float32Array(PLANE);
    createGaussianRng(99).fill(xT);
    const i = process.numTimesteps - 1;
    const out = await fakeDenoise(true)(xT, Float32Array.of(process.timestepMap[i]), Int32Array.of(1), one);
    const mv = pMeanVariance(process, out, xT, i, one);
    expect(Array.from(atMean.calls[0].x)).toEqual(Array.from(mv.mean));
  });

  it('does not change DDIM (the score is taken at x_t, Alg. 2)', async () => {
    const a = await sampleToEnd(opts(1, { useDdim: true }));
    const b = await sampleToEnd(opts(1, { useDdim: true, gradientAt: 'mean' }));
    expect(Array.from(b!)).toEqual(Array.from(a!));
  });
});

describe('StepRecord grad and variance', () => {
  it('exposes the unscaled gradient and the step variance, null without a classifier call', async () => {
    const recs: { grad: Float32Array | null; variance: Float32Array; logp: Float32Array | null }[] = [];
    let s = 2;
    for await (const r of sampleLoop(opts(1, { getScales: () => ({ classifier: s, cfg: 0 }) }))) {
      recs.push({ grad: r.grad?.slice() ?? null, variance: r.variance.slice(), logp: r.logp });
      if (r.step === 1) s = 0;
    }
    expect(recs.map((r) => r.grad !== null)).toEqual([true, true, false, false, false, false, false, false]);
    expect(recs.every((r) => r.variance.every((v) => v > 0))).toBe(true);
    expect(recs[0].grad!.length).toBe(PLANE);
  });
});

describe('only classifier-guided samples go through the classifier', () => {
  it('per-sample scales 0, 2, 0, 3: the gradient call has 2 rows, and every sample equals its own batch-1 run', async () => {
    const rows: number[] = [];
    const counting: ClassifierGradFn = (x, t, y, s) => {
      rows.push(s[0]);
      expect([x.length, t.length, y.length]).toEqual([s[0] * PLANE, s[0], s[0]]);
      return fakeGrad(x, t, y, s);
    };
    for (const ddim of [false, true]) {
      rows.length = 0;
      const scales = Float32Array.of(0, 2, 0, 3);
      const seeds = [4, 5, 6, 7];
      const recs: { logp: number[]; grad: Float32Array }[] = [];
      let last: Float32Array | null = null;
      for await (const r of sampleLoop(opts(4, {
        useDdim: ddim, classifierGrad: counting, getScales: () => ({ classifier: scales, cfg: 0 }), rngPerSample: seeds.map((s) => createGaussianRng(s)),
      }))) {
        recs.push({ logp: Array.from(r.logp!), grad: r.grad!.slice() });
        last = r.x.slice();
      }
      expect(rows).toEqual(new Array(process.numTimesteps).fill(2));
      // log p is NaN and the gradient zero for the unguided samples; both are real for the others.
      expect(recs.every((r) => Number.isNaN(r.logp[0]) && Number.isNaN(r.logp[2]) && Number.isFinite(r.logp[1]) && Number.isFinite(r.logp[3]))).toBe(true);
      expect(recs[0].grad.subarray(0, PLANE).every((v) => v === 0)).toBe(true);
      expect(recs[0].grad.subarray(PLANE, 2 * PLANE).some((v) => v !== 0)).toBe(true);
      for (let k = 0; k < 4; k++) {
        const single = await sampleToEnd(opts(1, { useDdim: ddim, getScales: () => ({ classifier: scales[k], cfg: 0 }), rng: createGaussianRng(seeds[k]) }));
        expect(Array.from(last!.subarray(k * PLANE, (k + 1) * PLANE))).toEqual(Array.from(single!));
      }
    }
  });

  it('with every sample guided the whole batch goes through in one call', async () => {
    const rows: number[] = [];
    const counting: ClassifierGradFn = (x, t, y, s) => {
      rows.push(s[0]);
      return fakeGrad(x, t, y, s);
    };
    for await (const r of sampleLoop(opts(3, { classifierGrad: counting, getScales: () => ({ classifier: Float32Array.of(1, 2, 3), cfg: 0 }) }))) void r;
    expect(rows).toEqual(new Array(process.numTimesteps).fill(3));
  });
});

describe('instruments', () => {
  it('guidance heat: channel-summed |s·Σ·g| per pixel, and its maximum', () => {
    const shape: Shape4 = [2, 3, 1, 2];
    const grad = Float32Array.of(1, -2, 3, 4, -5, 6, /* sample 1 */ 1, 1, 1, 1, 1, 1);
    const variance = Float32Array.of(0.5, 0.5, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1);
    const out = new Float32Array(2);
    const max = guidanceHeatInto(grad, variance, -2, shape, 0, out);
    expect(Array.from(out)).toEqual([2 * (0.5 + 3 + 10), 2 * (1 + 4 + 12)]);
    expect(max).toBe(34);
    expect(() => guidanceHeatInto(grad, variance, 1, shape, 2, out)).toThrow(/sample 2/);
    expect(() => guidanceHeatInto(grad, variance, 1, shape, 0, new Float32Array(3))).toThrow(/needs 2/);
  });

  it('sample L2 norm', () => {
    expect(sampleL2Norm(Float32Array.of(3, 4, 0, 1, 1, 1), [2, 3, 1, 1], 0)).toBe(5);
    expect(sampleL2Norm(Float32Array.of(3, 4, 0, 1, 1, 1), [2, 3, 1, 1], 1)).toBeCloseTo(Math.sqrt(3));
  });
});

describe('diversity', () => {
  it('mean pairwise RMS and L2 over chosen rows', () => {
    const rows = Float32Array.of(0, 0, /**/ 1, 1, /**/ -1, -1, /**/ 9, 9);
    expect(meanPairwiseRms(rows, 2, [0, 1])).toBe(1);
    expect(meanPairwiseRms(rows, 2, [0, 1, 2])).toBeCloseTo((1 + 1 + 2) / 3);
    expect(meanPairwiseL2(rows, 2, [0, 1])).toBeCloseTo(Math.SQRT2);
    expect(meanPairwiseRms(rows, 2, [3])).toBe(0);
    expect(() => meanPairwiseRms(rows, 2, [4])).toThrow(/outside 0..3/);
    expect(() => meanPairwiseRms(rows, 3, [0])).toThrow(/whole rows/);
  });

  it('softmax rows sum to 1 and are shift invariant', () => {
    const p = softmaxRows(Float32Array.of(1, 2, 3, 101, 102, 103), 3);
    expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 6);
    for (let k = 0; k < 3; k++) expect(p[k]).toBeCloseTo(p[k + 3], 6);
    expect(meanPairwiseL2(p, 3, [0, 1])).toBeCloseTo(0, 6);
  });
});

describe('the gradient at x_t is requested before the U-Net is awaited', () => {
  it('both graphs are in flight together, and the images are those of the one-at-a-time order', async () => {
    const events: string[] = [];
    let unetPending = 0;
    const denoise: SampleOptions['denoise'] = async (x, t, y, shape) => {
      events.push('unet start');
      unetPending++;
      await new Promise((r) => setTimeout(r, 1));
      unetPending--;
      events.push('unet end');
      return fakeDenoise(true)(x, t, y, shape);
    };
    let overlapped = 0;
    const grad: ClassifierGradFn = async (x, t, y, shape) => {
      if (unetPending > 0) overlapped++;
      events.push('grad start');
      return fakeGrad(x, t, y, shape);
    };
    const concurrent = await sampleToEnd(opts(2, { denoise, classifierGrad: grad, rng: createGaussianRng(4) }));
    const reference = await sampleToEnd(opts(2, { rng: createGaussianRng(4) }));
    expect(overlapped).toBe(8); // every step: the gradient graph was called while the U-Net ran
    expect(events.slice(0, 3)).toEqual(['unet start', 'grad start', 'unet end']);
    expect(Array.from(concurrent!)).toEqual(Array.from(reference!));
  });

  it('at the mean it still waits for the U-Net (it needs its output)', async () => {
    let unetDone = 0;
    let early = 0;
    const denoise: SampleOptions['denoise'] = async (...a) => {
      const out = await fakeDenoise(true)(...a);
      unetDone++;
      return out;
    };
    const grad: ClassifierGradFn = async (...a) => {
      if (unetDone === 0) early++;
      return fakeGrad(...a);
    };
    await sampleToEnd(opts(1, { denoise, classifierGrad: grad, gradientAt: 'mean' }));
    expect(early).toBe(0);
  });

  it('a U-Net failure is the error reported, and the gradient call in flight leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    globalThis.process.on('unhandledRejection', onUnhandled);
    try {
      const denoise: SampleOptions['denoise'] = async () => {
        throw new Error('unet broke');
      };
      const grad: ClassifierGradFn = async () => {
        throw new Error('grad broke too');
      };
      await expect(sampleToEnd(opts(1, { denoise, classifierGrad: grad }))).rejects.toThrow('unet broke');
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).toEqual([]);
    } finally {
      globalThis.process.off('unhandledRejection', onUnhandled);
    }
  });
});
