import { describe, expect, it } from 'vitest';
import {
  conditionMean, conditionScore, createProcess, ddimSample, pMeanVariance, pSample, type Shape4,
} from '../../../src/diffusion';
import { expectClose, fixture } from './helpers';

interface Pair { sample: number[]; pred_xstart: number[] }
interface Case {
  schedule: 'linear' | 'cosine';
  respacing: string;
  learnSigma: boolean;
  t: number;
  clip: boolean;
  pMeanVariance: { mean: number[]; variance: number[]; log_variance: number[]; pred_xstart: number[] };
  conditionMean: number[];
  conditionScore: { mean: number[]; pred_xstart: number[] };
  [k: string]: unknown;
}
const g = fixture<{ shape: number[]; scale: number; x: number[]; modelOutput: number[]; noise: number[]; grad: number[]; cases: Case[] }>(
  'steps.json',
);
const shape = g.shape as unknown as Shape4;
const [N, , H, W] = shape;
const x = Float32Array.from(g.x);
const noise = Float32Array.from(g.noise);
const grad = Float32Array.from(g.grad);
const out6 = Float32Array.from(g.modelOutput);
// The 3-channel (eps only) model output used by the fixed-variance cases: channels 0..2 of each sample.
const out3 = new Float32Array(N * 3 * H * W);
for (let n = 0; n < N; n++) out3.set(out6.subarray(n * 6 * H * W, n * 6 * H * W + 3 * H * W), n * 3 * H * W);

// float32 arithmetic on both sides; ~1e-5 leaves room for the different rounding order.
const RTOL = 2e-5;
const ATOL = 2e-5;

describe.each(g.cases.map((c) => [`${c.schedule} "${c.respacing}" ${c.learnSigma ? 'learnedRange' : 'fixedSmall'} t=${c.t} clip=${c.clip}`, c] as const))(
  'step vs adm/diffusion.py: %s',
  (_, c) => {
    const p = createProcess({
      noiseSchedule: c.schedule, diffusionSteps: 1000, timestepRespacing: c.respacing, learnSigma: c.learnSigma,
      modelVarType: c.learnSigma ? 'learnedRange' : 'fixedSmall',
    });
    const mo = c.learnSigma ? out6 : out3;
    const opts = { clipDenoised: c.clip };

    it('pMeanVariance', () => {
      const r = pMeanVariance(p, mo, x, c.t, shape, c.clip);
      expectClose(r.mean, c.pMeanVariance.mean, RTOL, ATOL, 'mean');
      expectClose(r.variance, c.pMeanVariance.variance, RTOL, 0, 'variance');
      expectClose(r.logVariance, c.pMeanVariance.log_variance, RTOL, ATOL, 'logVariance');
      expectClose(r.predXstart, c.pMeanVariance.pred_xstart, RTOL, ATOL, 'predXstart');
      if (c.clip) expect(r.predXstart.every((v) => v >= -1 && v <= 1)).toBe(true);
    });

    it('conditionMean / conditionScore', () => {
      const m = conditionMean(pMeanVariance(p, mo, x, c.t, shape, c.clip), grad, g.scale);
      expectClose(m.mean, c.conditionMean, RTOL, ATOL, 'conditionMean');
      const s = conditionScore(p, pMeanVariance(p, mo, x, c.t, shape, c.clip), x, c.t, grad, g.scale);
      expectClose(s.mean, c.conditionScore.mean, RTOL, ATOL, 'conditionScore mean');
      expectClose(s.predXstart, c.conditionScore.pred_xstart, RTOL, ATOL, 'conditionScore predXstart');
    });

    it('pSample with and without guidance', () => {
      for (const [key, o] of [['pSample', opts], ['pSampleGuided', { ...opts, grad, classifierScale: g.scale }]] as const) {
        const r = pSample(p, mo, x, c.t, shape, noise, o);
        const e = c[key] as Pair;
        expectClose(r.sample, e.sample, RTOL, ATOL, `${key} sample`);
        expectClose(r.predXstart, e.pred_xstart, RTOL, ATOL, `${key} predXstart`);
      }
    });

    it('ddimSample with and without guidance, eta 0 and 0.5', () => {
      for (const eta of [0, 0.5]) {
        for (const guided of [false, true]) {
          const key = `ddimSample${guided ? 'Guided' : ''}_eta${eta.toFixed(1)}`;
          const r = ddimSample(p, mo, x, c.t, shape, noise, guided ? { ...opts, eta, grad, classifierScale: g.scale } : { ...opts, eta });
          const e = c[key] as Pair;
          expectClose(r.sample, e.sample, RTOL, ATOL, `${key} sample`);
          expectClose(r.predXstart, e.pred_xstart, RTOL, ATOL, `${key} predXstart`);
        }
      }
    });
  },
);

describe('step details', () => {
  const p = createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: '50', learnSigma: false });

  it('fixedLarge uses [β̃_1, β_1, β_2, ...] as variance', () => {
    expect(p.modelVarType).toBe('fixedLarge');
    const at = (t: number) => pMeanVariance(p, out3, x, t, shape).variance[0];
    expect(at(7)).toBe(Math.fround(p.betas[7]));
    expect(at(0)).toBe(Math.fround(p.posteriorVariance[1]));
    expect(pMeanVariance(p, out3, x, 7, shape).logVariance[5]).toBe(Math.fround(Math.log(p.betas[7])));
  });

  it('the last step (t = 0) adds no noise, in both samplers', () => {
    const q = createProcess({ noiseSchedule: 'cosine', diffusionSteps: 1000, timestepRespacing: '25', learnSigma: true });
    const a = pSample(q, out6, x, 0, shape, noise).sample;
    const b = pSample(q, out6, x, 0, shape, new Float32Array(noise.length)).sample;
    expect(a).toEqual(b);
    const d1 = ddimSample(q, out6, x, 0, shape, noise, { eta: 1 }).sample;
    const d2 = ddimSample(q, out6, x, 0, shape, new Float32Array(noise.length), { eta: 1 }).sample;
    expect(d1).toEqual(d2);
  });

  it('predictXstart takes the model output as x_0', () => {
    const q = createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: '50', learnSigma: true, predictXstart: true });
    const r = pMeanVariance(q, out6, x, 10, shape, true);
    const xs = out6.subarray(0, 3 * H * W);
    expect(Array.from(r.predXstart.subarray(0, 3 * H * W))).toEqual(Array.from(xs, (v) => Math.max(-1, Math.min(1, v))));
  });

  it('rejects mismatched sizes and indices', () => {
    const q = createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: '50', learnSigma: true });
    expect(() => pMeanVariance(q, out3, x, 3, shape)).toThrow(/expected 2x6x4x4/);
    expect(() => pMeanVariance(q, out6, x, 50, shape)).toThrow(/outside 0..49/);
    expect(() => pMeanVariance(q, out6, x.subarray(1), 3, shape)).toThrow(/needs 96/);
    expect(() => ddimSample(q, out6, x, 3, shape, noise, { eta: -1 })).toThrow(/eta/);
  });
});
