// Classifier-free guidance against adm/diffusion.py (cfg_combine, cfg_sample and a loop with per-sample
// scales and a guidance interval), plus how the loop builds the U-Net batch.
import { describe, expect, it } from 'vitest';
import {
  cfgCombine, cfgCombineInto, createGaussianRng, createProcess, ddimSample, pSample, sampleLoop, sampleToEnd,
  type DenoiseFn, type GuidanceScales, type SampleOptions, type Shape4, type StepRecord,
} from '../../../src/diffusion';
import { fakeDenoise, fakeGrad } from './fakes';
import { expectClose, fixture } from './helpers';

interface Pair { sample: number[]; pred_xstart: number[] }
interface StepCase { schedule: 'linear' | 'cosine'; respacing: string; learnSigma: boolean; t: number; [k: string]: unknown }
interface LoopCase {
  schedule: 'linear' | 'cosine';
  respacing: string;
  useDdim: boolean;
  eta: number;
  classifierScales: number[];
  cfgScales: number[];
  interval: [number, number] | null;
  seed: number;
  learnSigma: boolean;
  labels: number[];
  nullLabels: number[];
  x: number[][];
  predXstart: number[][];
}
const g = fixture<{
  steps: {
    shape: number[]; classifierScale: number; cfgScales: Record<string, number | number[]>;
    x: number[]; modelOutput: number[]; noise: number[]; grad: number[];
    combine: Record<string, { learnSigma: number[]; fixed: number[] }>;
    cases: StepCase[];
  };
  loops: { shape: number[]; cases: LoopCase[] };
}>('cfg.json');

const st = g.steps;
const shape = st.shape as unknown as Shape4;
const [N, , H, W] = shape;
const HW = H * W;
const x = Float32Array.from(st.x);
const noise = Float32Array.from(st.noise);
const grad = Float32Array.from(st.grad);
const out6 = Float32Array.from(st.modelOutput); // [2N, 6, H, W]
const out3 = new Float32Array(2 * N * 3 * HW); // eps channels only, for the fixed-variance cases
for (let r = 0; r < 2 * N; r++) out3.set(out6.subarray(r * 6 * HW, r * 6 * HW + 3 * HW), r * 3 * HW);
const scaleOf = (v: number | number[]) => (typeof v === 'number' ? v : Float32Array.from(v));

// Same tolerances as the single-step tests: float32 on both sides, different rounding order.
const RTOL = 2e-5;
const ATOL = 2e-5;

describe('cfgCombine vs adm/diffusion.py cfg_combine', () => {
  it.each(Object.keys(st.combine))('%s scale', (name) => {
    const w = scaleOf(st.cfgScales[name]);
    // Pure elementwise float32 arithmetic in the same order: bit-identical.
    expect(Array.from(cfgCombine(out6, [2 * N, 6, H, W], w))).toEqual(st.combine[name].learnSigma);
    expect(Array.from(cfgCombine(out3, [2 * N, 3, H, W], w))).toEqual(st.combine[name].fixed);
  });

  it('keeps the conditional variance channels and copies unguided samples', () => {
    const c = cfgCombine(out6, [2 * N, 6, H, W], 5);
    expect(Array.from(c.subarray(3 * HW, 6 * HW))).toEqual(Array.from(out6.subarray(3 * HW, 6 * HW)));
    // Sample 1 unguided (no null row): its conditional output is copied; only sample 0 has a null row (row 2).
    const rows = new Float32Array(3 * 6 * HW);
    rows.set(out6.subarray(0, 2 * 6 * HW));
    rows.set(out6.subarray(2 * 6 * HW, 3 * 6 * HW), 2 * 6 * HW);
    const dst = cfgCombineInto(rows, 2, HW, Int32Array.of(2, -1), Float32Array.of(5, 9), new Float32Array(2 * 6 * HW));
    expect(Array.from(dst.subarray(0, 6 * HW))).toEqual(Array.from(c.subarray(0, 6 * HW)));
    expect(Array.from(dst.subarray(6 * HW))).toEqual(Array.from(out6.subarray(6 * HW, 12 * HW)));
  });

  it('rejects bad shapes and scales', () => {
    expect(() => cfgCombine(out6, [3, 6, H, W], 1)).toThrow(/2N rows/);
    expect(() => cfgCombine(out6.subarray(1), [2 * N, 6, H, W], 1)).toThrow(/needs/);
    expect(() => cfgCombine(out6, [2 * N, 6, H, W], Float32Array.of(1, 2, 3))).toThrow(/3 entries for a batch of 2/);
    expect(() => cfgCombine(out6, [2 * N, 6, H, W], Number.NaN)).toThrow(/finite/);
    expect(() => cfgCombineInto(out6, 2, HW, Int32Array.of(0, 3), Float32Array.of(1, 1), new Float32Array(2 * 6 * HW))).toThrow(/outside 2..3/);
  });
});

describe.each(st.cases.map((c) => [`${c.schedule} "${c.respacing}" ${c.learnSigma ? 'learnedRange' : 'fixedSmall'} t=${c.t}`, c] as const))(
  'guided step vs adm/diffusion.py cfg_sample: %s',
  (_, c) => {
    const p = createProcess({
      noiseSchedule: c.schedule, diffusionSteps: 1000, timestepRespacing: c.respacing, learnSigma: c.learnSigma,
      modelVarType: c.learnSigma ? 'learnedRange' : 'fixedSmall',
    });
    const [mo, ch] = c.learnSigma ? [out6, 6] : [out3, 3];
    it.each(['scalar', 'perSample'])('%s w, classifier-free alone and with classifier guidance', (name) => {
      const combined = cfgCombine(mo, [2 * N, ch, H, W], scaleOf(st.cfgScales[name]));
      for (const both of [false, true]) {
        const tag = `${name}${both ? 'Both' : ''}`;
        const cls = both ? { grad, classifierScale: st.classifierScale } : {};
        const r = pSample(p, combined, x, c.t, shape, noise, cls);
        const e = c[`pSample_${tag}`] as Pair;
        expectClose(r.sample, e.sample, RTOL, ATOL, `pSample ${tag} sample`);
        expectClose(r.predXstart, e.pred_xstart, RTOL, ATOL, `pSample ${tag} predXstart`);
        for (const eta of [0, 0.5]) {
          const key = `ddimSample_${tag}_eta${eta.toFixed(1)}`;
          const d = ddimSample(p, combined, x, c.t, shape, noise, { ...cls, eta });
          expectClose(d.sample, (c[key] as Pair).sample, RTOL, ATOL, `${key} sample`);
          expectClose(d.predXstart, (c[key] as Pair).pred_xstart, RTOL, ATOL, `${key} predXstart`);
        }
      }
    });
  },
);

const lshape = g.loops.shape as unknown as Shape4;

function loopOpts(c: LoopCase, extra: Partial<SampleOptions> = {}): SampleOptions {
  const labels = Int32Array.from(c.labels);
  return {
    process: createProcess({
      noiseSchedule: c.schedule, diffusionSteps: 1000, timestepRespacing: c.respacing, learnSigma: c.learnSigma,
      modelVarType: c.learnSigma ? 'learnedRange' : 'fixedSmall',
    }),
    shape: lshape,
    denoise: fakeDenoise(c.learnSigma),
    unetLabels: labels,
    nullLabels: Int32Array.from(c.nullLabels),
    classifierGrad: fakeGrad,
    classifierLabels: labels,
    getScales: () => ({ classifier: Float32Array.from(c.classifierScales), cfg: Float32Array.from(c.cfgScales) }),
    guidanceInterval: c.interval ?? undefined,
    useDdim: c.useDdim,
    eta: c.eta,
    rng: createGaussianRng(c.seed),
    ...extra,
  };
}

describe.each(g.loops.cases.map((c) => [
  `${c.schedule} "${c.respacing}" ${c.useDdim ? `DDIM eta=${c.eta}` : 'DDPM'} s=${c.classifierScales} w=${c.cfgScales} interval=${c.interval ?? 'all'}`, c,
] as const))('whole guided loop vs the Python reference: %s', (_, c) => {
  it('every step matches, with one U-Net call per step', async () => {
    let calls = 0;
    const inner = fakeDenoise(c.learnSigma);
    const denoise: DenoiseFn = (...a) => (calls++, inner(...a));
    const recs: { rec: StepRecord; x: Float32Array; predXstart: Float32Array }[] = [];
    for await (const rec of sampleLoop(loopOpts(c, { denoise }))) recs.push({ rec, x: rec.x.slice(), predXstart: rec.predXstart.slice() });
    expect(recs.length).toBe(c.x.length);
    expect(calls).toBe(recs.length);
    recs.forEach(({ rec, x: xs, predXstart }, k) => {
      const inside = !c.interval || (rec.timestep >= c.interval[0] && rec.timestep <= c.interval[1]);
      expect(Array.from(rec.cfgScales)).toEqual(c.cfgScales.map((v) => (inside ? v : 0)));
      expect(Array.from(rec.classifierScales)).toEqual(c.classifierScales.map((v) => (inside ? v : 0)));
      expect(rec.unetRows).toBe(2 + (inside ? c.cfgScales.filter((v) => v !== 0).length : 0));
      expectClose(xs, c.x[k], 1e-4, 1e-4, `x after step ${k}`);
      expectClose(predXstart, c.predXstart[k], 1e-4, 1e-4, `predXstart at step ${k}`);
    });
  });
});

describe('guided loop: the U-Net batch and per-sample scales', () => {
  const c = g.loops.cases[2]; // DDIM, s = [1.5, 3], w = [2, 4], interval [300, 700]
  const SIZE = lshape[0] * lshape[1] * lshape[2] * lshape[3];

  function spyDenoise() {
    const calls: { rows: number; y: number[]; t: number[]; x: Float32Array }[] = [];
    const inner = fakeDenoise(true);
    const denoise: DenoiseFn = (x, t, y, s) => {
      calls.push({ rows: s[0], y: Array.from(y ?? []), t: Array.from(t), x: x.slice() });
      return inner(x, t, y, s);
    };
    return { calls, denoise };
  }

  it('runs the U-Net once on 2N rows: the batch, then the same x_t with the null labels', async () => {
    const { calls, denoise } = spyDenoise();
    await sampleToEnd(loopOpts(c, { denoise, guidanceInterval: undefined }));
    expect(calls).toHaveLength(10);
    for (const call of calls) {
      expect(call.rows).toBe(4);
      expect(call.y).toEqual([1, 3, 4, 4]);
      expect(new Set(call.t).size).toBe(1);
      expect(Array.from(call.x.subarray(SIZE))).toEqual(Array.from(call.x.subarray(0, SIZE)));
    }
  });

  it('w = 0 is the plain N batch, and gives exactly the unguided result', async () => {
    const { calls, denoise } = spyDenoise();
    const zero = await sampleToEnd(loopOpts(c, { denoise, getScales: () => ({ classifier: 0, cfg: 0 }) }));
    expect(calls.every((k) => k.rows === 2 && k.y.join() === '1,3')).toBe(true);
    const plain = await sampleToEnd(loopOpts(c, { nullLabels: undefined, getScales: undefined, getClassifierScale: () => 0 }));
    expect(zero).toEqual(plain);
  });

  it('adds null rows only for the samples with w != 0', async () => {
    const { calls, denoise } = spyDenoise();
    await sampleToEnd(loopOpts(c, { denoise, guidanceInterval: undefined, getScales: () => ({ classifier: 0, cfg: Float32Array.of(0, 2) }) }));
    expect(calls.every((k) => k.rows === 3 && k.y.join() === '1,3,4')).toBe(true);
    const last = calls[0];
    expect(Array.from(last.x.subarray(SIZE))).toEqual(Array.from(last.x.subarray(SIZE / 2, SIZE)));
  });

  it('a batch of K cells equals K runs of one cell (per-sample scales are independent)', async () => {
    const cells: GuidanceScales[] = [{ classifier: 0, cfg: 3 }, { classifier: 2, cfg: 0 }, { classifier: 1, cfg: 1.5 }, { classifier: 0, cfg: 0 }];
    const K = cells.length;
    const [, ch, h, w] = lshape;
    const plane = ch * h * w;
    const xT = new Float32Array(K * plane);
    createGaussianRng(5).fill(xT);
    const base = (n: number, extra: Partial<SampleOptions>): SampleOptions => ({
      ...loopOpts(c, { guidanceInterval: [100, 800] }),
      shape: [n, ch, h, w],
      unetLabels: new Int32Array(n).fill(2),
      classifierLabels: new Int32Array(n).fill(2),
      nullLabels: new Int32Array(n).fill(4),
      eta: 0, // deterministic DDIM: the noise stream does not matter, only x_T
      ...extra,
    });
    const batch = await sampleToEnd(base(K, {
      xT,
      getScales: () => ({
        classifier: Float32Array.from(cells, (s) => s.classifier as number),
        cfg: Float32Array.from(cells, (s) => s.cfg as number),
      }),
    }));
    for (let k = 0; k < K; k++) {
      const one = await sampleToEnd(base(1, { xT: xT.slice(k * plane, (k + 1) * plane), getScales: () => cells[k] }));
      expectClose(batch!.subarray(k * plane, (k + 1) * plane), one!, 0, 1e-6, `cell ${k}`);
    }
  });

  it('the interval switches both kinds of guidance off outside [lo, hi]', async () => {
    const { calls, denoise } = spyDenoise();
    const grads: number[] = [];
    const recs: StepRecord[] = [];
    for await (const r of sampleLoop(loopOpts(c, {
      denoise, classifierGrad: (...a) => (grads.push(a[1][0]), fakeGrad(...a)),
    }))) recs.push(r);
    const inside = [700, 600, 500, 400, 300];
    expect(grads).toEqual(inside);
    expect(calls.filter((k) => k.rows === 4).map((k) => k.t[0])).toEqual(inside);
    expect(recs.map((r) => r.logp === null)).toEqual(recs.map((r) => !inside.includes(r.timestep)));
    expect(recs.map((r) => r.cfgScale)).toEqual(recs.map((r) => (inside.includes(r.timestep) ? 2 : 0)));
  });

  it('scales changed between steps apply from the next step', async () => {
    let w = 0;
    const seen: number[] = [];
    for await (const r of sampleLoop(loopOpts(c, { guidanceInterval: undefined, getScales: () => ({ classifier: 0, cfg: w }) }))) {
      seen.push(r.cfgScale);
      if (r.step === 2) w = 3;
    }
    expect(seen).toEqual([0, 0, 0, 3, 3, 3, 3, 3, 3, 3]);
  });

  it('without null labels w cannot be applied (reported as 0), and bad options are rejected', async () => {
    const recs: StepRecord[] = [];
    for await (const r of sampleLoop(loopOpts(c, { nullLabels: undefined }))) recs.push(r);
    expect(recs.every((r) => r.cfgScale === 0 && r.unetRows === 2)).toBe(true);
    const run = (o: Partial<SampleOptions>) => sampleToEnd(loopOpts(c, o));
    await expect(run({ nullLabels: Int32Array.of(4) })).rejects.toThrow(/nullLabels has 1 entries/);
    await expect(run({ unetLabels: null })).rejects.toThrow(/nullLabels need a class-conditional U-Net/);
    await expect(run({ getScales: () => ({ classifier: 0, cfg: Float32Array.of(1) }) })).rejects.toThrow(/cfg scales have 1 entries/);
    await expect(run({ getScales: () => ({ classifier: Float32Array.of(1, Number.NaN), cfg: 0 }) })).rejects.toThrow(/sample 1 must be a finite/);
    await expect(run({ getScales: undefined })).rejects.toThrow(/getScales or getClassifierScale/);
    await expect(run({ guidanceInterval: [800, 300] })).rejects.toThrow(/guidance interval/);
    await expect(run({ guidanceInterval: undefined, denoise: async () => new Float32Array(7) })).rejects.toThrow(/guided batch of 4 rows/);
  });
});
