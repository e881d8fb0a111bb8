// Guidance as wrappers around the model: the classifier-free denoiser, the classifier's gradient on
// the guided rows only, and the stepping loop running any model it is given.
import { describe, expect, it } from 'vitest';
import {
  cfgCombineInto, cfgDenoiser, classifierGuide, createGaussianRng, createProcess, guidedModel, sampleLoop, stepLoop,
  type ClassifierGradFn, type DenoiseFn, type Shape4, type StepRecord,
} from '../../../src/diffusion';
import { fakeDenoise, fakeGrad } from './fakes';

const shape: Shape4 = [2, 3, 2, 2];
const SIZE = 2 * 3 * 2 * 2;
const x = Float32Array.from({ length: SIZE }, (_, k) => Math.sin(k));
const t = new Float32Array(2).fill(500);
const process = () => createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: 'ddim4', learnSigma: true, modelVarType: 'learnedRange' });

describe('cfgDenoiser', () => {
  it('runs the U-Net once with a null row per guided sample and combines them', async () => {
    const calls: { rows: number; y: number[] }[] = [];
    const inner = fakeDenoise(true);
    const denoise: DenoiseFn = (bx, bt, y, s) => {
      calls.push({ rows: s[0], y: [...(y ?? [])] });
      return inner(bx, bt, y, s);
    };
    const guided = cfgDenoiser(denoise, shape, Int32Array.of(1, 2), Int32Array.of(9, 9));
    const plain = await guided(x, t, Float32Array.of(0, 0));
    expect(plain.rows).toBe(2);
    expect(plain.output).toEqual(await inner(x, t, Int32Array.of(1, 2), shape));
    const { output, rows } = await guided(x, t, Float32Array.of(0, 2.5));
    expect(rows).toBe(3);
    expect(calls).toEqual([{ rows: 2, y: [1, 2] }, { rows: 3, y: [1, 2, 9] }]);
    // The same as combining a hand-built batch: conditional rows, then sample 1 on the null label.
    const batch = new Float32Array(3 * 12);
    batch.set(x);
    batch.set(x.subarray(12), 24);
    const raw = await inner(batch, new Float32Array(3).fill(500), Int32Array.of(1, 2, 9), [3, 3, 2, 2]);
    expect(output).toEqual(cfgCombineInto(raw, 2, 4, Int32Array.of(-1, 2), Float32Array.of(0, 2.5), new Float32Array(2 * 6 * 4)));
  });
});

describe('classifierGuide', () => {
  it('feeds only the samples with a non-zero scale to the classifier', async () => {
    const seen: number[][] = [];
    const grad: ClassifierGradFn = (gx, gt, y, s) => {
      seen.push([s[0], ...y]);
      return fakeGrad(gx, gt, y, s);
    };
    const guide = classifierGuide(process(), grad, Int32Array.of(1, 2), shape, true);
    const g = await guide.grad(x, t, Float32Array.of(0, 3));
    expect(seen).toEqual([[1, 2]]);
    const alone = await fakeGrad(x.slice(12), t.subarray(1), Int32Array.of(2), [1, 3, 2, 2]);
    expect([...g.grad.subarray(0, 12)]).toEqual(new Array(12).fill(0));
    expect(g.grad.subarray(12)).toEqual(alone.grad);
    expect([Number.isNaN(g.logp[0]), g.logp[1]]).toEqual([true, alone.logp[0]]);
  });
});

describe('stepLoop', () => {
  const opts = () => ({
    process: process(), shape, denoise: fakeDenoise(true), unetLabels: Int32Array.of(1, 2), classifierGrad: fakeGrad,
    classifierLabels: Int32Array.of(1, 2), nullLabels: Int32Array.of(0, 0), getScales: () => ({ classifier: Float32Array.of(1, 0), cfg: 2 }),
    useDdim: true, rng: createGaussianRng(3),
  });
  const xs = async (it: AsyncIterable<StepRecord>) => {
    const out: Float32Array[] = [];
    for await (const r of it) out.push(r.x.slice());
    return out;
  };

  it('with the guided model is sampleLoop', async () => {
    const o = opts();
    expect(await xs(stepLoop({ ...o, model: guidedModel(o) }))).toEqual(await xs(sampleLoop(opts())));
  });

  it('calls the model it is given once per step, at the original timesteps in order (DDPM too)', async () => {
    const o = { ...opts(), useDdim: false };
    const base = guidedModel(o);
    const seen: number[] = [];
    const model: typeof base = async (mx, at) => {
      seen.push(at.timestep);
      return base(mx, at);
    };
    const recs = await xs(stepLoop({ ...o, model }));
    expect(recs).toEqual(await xs(sampleLoop({ ...opts(), useDdim: false })));
    expect(seen).toEqual([...o.process.timestepMap].reverse());
  });
});
