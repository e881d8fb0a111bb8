import { describe, expect, it } from 'vitest';
import {
  createGaussianRng, createProcess, sampleLoop, sampleToEnd,
  type ClassifierGradFn, type DenoiseFn, type GaussianRng, type SampleOptions, type Shape4, type StepRecord,
} from '../../../src/diffusion';
import { fakeDenoise, fakeGrad } from './fakes';
import { expectClose, fixture } from './helpers';

interface LoopCase {
  schedule: 'linear' | 'cosine';
  respacing: string;
  useDdim: boolean;
  eta: number;
  scales: number[];
  seed: number;
  learnSigma: boolean;
  labels: number[];
  x: number[][];
  predXstart: number[][];
}
const g = fixture<{ shape: number[]; rngSeed42: number[]; rngSeed7Stream3: number[]; rngSeedBig: number[]; cases: LoopCase[] }>('loops.json');
const shape = g.shape as unknown as Shape4;
const SIZE = shape[0] * shape[1] * shape[2] * shape[3];

function optsFor(c: LoopCase, extra: Partial<SampleOptions> = {}): SampleOptions {
  const labels = Int32Array.from(c.labels);
  return {
    process: createProcess({
      noiseSchedule: c.schedule, diffusionSteps: 1000, timestepRespacing: c.respacing, learnSigma: c.learnSigma,
      modelVarType: c.learnSigma ? 'learnedRange' : 'fixedSmall', // adm/diffusion.py's non-learned variance
    }),
    shape,
    denoise: fakeDenoise(c.learnSigma),
    unetLabels: labels,
    classifierGrad: fakeGrad,
    classifierLabels: labels,
    getClassifierScale: () => c.scales[0],
    useDdim: c.useDdim,
    eta: c.eta,
    rng: createGaussianRng(c.seed),
    ...extra,
  };
}

async function collect(opts: SampleOptions, onRecord?: (r: StepRecord) => void) {
  const recs: { rec: StepRecord; x: Float32Array; predXstart: Float32Array }[] = [];
  for await (const rec of sampleLoop(opts)) {
    recs.push({ rec, x: rec.x.slice(), predXstart: rec.predXstart.slice() });
    onRecord?.(rec);
  }
  return recs;
}

describe('rng stream matches the Python port used for the loop fixtures', () => {
  it('pins the first values', () => {
    const r = createGaussianRng(42);
    expectClose(Array.from({ length: 8 }, () => r.next()), g.rngSeed42, 1e-12, 1e-14, 'seed 42');
    const s = createGaussianRng(7, 3);
    expectClose(Array.from({ length: 4 }, () => s.next()), g.rngSeed7Stream3, 1e-12, 1e-14, 'seed 7 stream 3');
    expectClose([createGaussianRng(2 ** 40 + 5).next()], g.rngSeedBig, 1e-12, 1e-14, 'seed 2^40+5');
  });
});

describe.each(g.cases.map((c) => [`${c.schedule} "${c.respacing}" ${c.useDdim ? `DDIM eta=${c.eta}` : 'DDPM'} scales=${c.scales.join(',')}`, c] as const))(
  'whole loop vs adm/diffusion.py: %s',
  (_, c) => {
    it('every step matches (scale changed by the consumer between steps)', async () => {
      let scale = c.scales[0];
      const recs = await collect(optsFor(c, { getClassifierScale: () => scale }), (r) => {
        scale = c.scales[(r.step + 1) % c.scales.length];
      });
      expect(recs.length).toBe(c.x.length);
      recs.forEach(({ rec, x, predXstart }, k) => {
        expect(rec.step).toBe(k);
        expect(rec.index).toBe(recs.length - 1 - k);
        expect(rec.classifierScale).toBe(c.scales[k % c.scales.length]);
        expect(rec.logp === null).toBe(rec.classifierScale === 0);
        expectClose(x, c.x[k], 1e-4, 1e-4, `x after step ${k}`);
        expectClose(predXstart, c.predXstart[k], 1e-4, 1e-4, `predXstart at step ${k}`);
      });
    });
  },
);

/** Wraps networks/rng to record how the loop calls them. */
function spies(learnSigma = true) {
  const calls = { denoise: [] as { x: Float32Array; t: number[] }[], grad: [] as { x: Float32Array; t: number[]; y: number[] }[], drawn: 0 };
  const inner = fakeDenoise(learnSigma);
  const denoise: DenoiseFn = (x, t, y, s) => {
    calls.denoise.push({ x: x.slice(), t: Array.from(t) });
    return inner(x, t, y, s);
  };
  const classifierGrad: ClassifierGradFn = (x, t, y, s) => {
    calls.grad.push({ x: x.slice(), t: Array.from(t), y: Array.from(y) });
    return fakeGrad(x, t, y, s);
  };
  const wrapRng = (r: GaussianRng): GaussianRng => ({
    next: () => (calls.drawn++, r.next()),
    fill: (o) => ((calls.drawn += o.length), r.fill(o)),
  });
  return { calls, denoise, classifierGrad, wrapRng };
}

describe('sampleLoop behaviour', () => {
  const base = (over: Partial<SampleOptions> = {}): SampleOptions => ({
    process: createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: 'ddim10', learnSigma: true }),
    shape,
    denoise: fakeDenoise(true),
    unetLabels: Int32Array.from([0, 2]),
    classifierGrad: fakeGrad,
    classifierLabels: Int32Array.from([1, 3]),
    getClassifierScale: () => 1.5,
    useDdim: false,
    rng: createGaussianRng(11),
    ...over,
  });

  it('is deterministic for a seed and changes with the seed', async () => {
    const a = await sampleToEnd(base());
    const b = await sampleToEnd(base());
    const c = await sampleToEnd(base({ rng: createGaussianRng(12) }));
    expect(a).not.toBeNull();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('draws x_T first, then one noise tensor per step (also for DDIM with eta = 0)', async () => {
    for (const useDdim of [false, true]) {
      const s = spies();
      await sampleToEnd(base({ useDdim, denoise: s.denoise, rng: s.wrapRng(createGaussianRng(11)) }));
      const xT = new Float32Array(SIZE);
      createGaussianRng(11).fill(xT);
      expect(s.calls.denoise[0].x).toEqual(xT);
      expect(s.calls.drawn).toBe(SIZE * 11);
    }
  });

  it('feeds both networks the original timestep and the current x_t', async () => {
    const s = spies();
    const p = createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: 'ddim10', learnSigma: true });
    await sampleToEnd(base({ process: p, denoise: s.denoise, classifierGrad: s.classifierGrad }));
    expect(s.calls.denoise.map((c) => c.t)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0].map((t) => [t, t]));
    expect(s.calls.grad.map((c) => c.t)).toEqual(s.calls.denoise.map((c) => c.t));
    s.calls.grad.forEach((c, k) => {
      expect(c.x).toEqual(s.calls.denoise[k].x);
      expect(c.y).toEqual([1, 3]);
    });
  });

  it('reads the scale at every step; a change takes effect from the next step', async () => {
    let scale = 0;
    const s = spies();
    const seen: number[] = [];
    for await (const r of sampleLoop(base({ classifierGrad: s.classifierGrad, getClassifierScale: () => scale }))) {
      seen.push(r.classifierScale);
      if (r.step === 3) scale = 4;
      if (r.step === 6) scale = 0;
    }
    expect(seen).toEqual([0, 0, 0, 0, 4, 4, 4, 0, 0, 0]);
    expect(s.calls.grad.length).toBe(3);
  });

  it('never calls the classifier at scale 0, and reports null logp', async () => {
    const s = spies();
    const recs = await collect(base({ classifierGrad: s.classifierGrad, getClassifierScale: () => 0 }));
    expect(s.calls.grad.length).toBe(0);
    expect(recs.every(({ rec }) => rec.logp === null && rec.classifierScale === 0)).toBe(true);
    // Without a classifier a non-zero scale cannot be applied: reported as 0.
    const recs2 = await collect(base({ classifierGrad: undefined, classifierLabels: undefined }));
    expect(recs2.every(({ rec }) => rec.classifierScale === 0)).toBe(true);
  });

  it('scale 0 gives the same result as no classifier at all', async () => {
    const a = await sampleToEnd(base({ getClassifierScale: () => 0 }));
    const b = await sampleToEnd(base({ classifierGrad: undefined, classifierLabels: undefined }));
    expect(a).toEqual(b);
  });

  it('shouldStop ends the loop between steps', async () => {
    const s = spies();
    let n = 0;
    const recs = await collect(base({ denoise: s.denoise, shouldStop: () => n >= 3 }), () => n++);
    expect(recs.length).toBe(3);
    expect(s.calls.denoise.length).toBe(3);
    expect(await sampleToEnd(base({ shouldStop: () => true }))).toBeNull();
  });

  it('starts from a given x_T', async () => {
    const xT = new Float32Array(SIZE).fill(0.25);
    const s = spies();
    await sampleToEnd(base({ xT, denoise: s.denoise, rng: s.wrapRng(createGaussianRng(1)) }));
    expect(s.calls.denoise[0].x).toEqual(xT);
    expect(s.calls.drawn).toBe(SIZE * 10);
  });

  it('rejects bad options with clear errors', async () => {
    const run = (o: Partial<SampleOptions>) => sampleToEnd(base(o));
    await expect(run({ shape: [2, 4, 4, 4] })).rejects.toThrow(/expected \[N, 3, H, W\]/);
    await expect(run({ classifierLabels: undefined })).rejects.toThrow(/classifierLabels are required/);
    await expect(run({ unetLabels: Int32Array.from([1]) })).rejects.toThrow(/unetLabels has 1 entries for a batch of 2/);
    await expect(run({ getClassifierScale: () => NaN })).rejects.toThrow(/finite/);
    await expect(run({ eta: -0.1 })).rejects.toThrow(/eta/);
    await expect(run({ denoise: async () => new Float32Array(5) })).rejects.toThrow(/model output has 5 values/);
  });
});
