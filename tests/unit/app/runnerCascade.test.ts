// The runner with a cascade pack (manifest `upsampler`): base model, then the upsampler, both streamed.
import { describe, expect, it } from 'vitest';
import type { DenoiseFn } from '../../../src/diffusion';
import type { PackManifest, UpsamplerGraph } from '../../../src/shared/manifest';
import type { FromWorker, GenerateParams } from '../../../src/shared/protocol';
import { createRunner, type RunModel } from '../../../src/worker/run/runner';
import { fakeManifest, macrotask, recorder, toyDenoise, toyGrad } from './fakes';

const UP: UpsamplerGraph = {
  file: 'upsampler.onnx', dtype: 'float32', bytes: 10, sha256: 'b'.repeat(64),
  inputs: ['x', 'timesteps', 'low_res', 'y'], outputs: ['model_output'],
  imageSize: 16, lowResSize: 8, learnSigma: true, classCond: true,
  diffusion: { noiseSchedule: 'linear', diffusionSteps: 1000, predictXstart: false, rescaleTimesteps: false },
  sampling: { timestepRespacing: 'ddim4', useDdim: true },
};

const params = (over: Partial<GenerateParams> = {}): GenerateParams => ({
  imagenetClass: 217, classifierScale: 2, steps: 10, sampler: 'ddim', seed: 7, conditionUnet: true, previewOf: 'predX0', ...over,
});

/** The upsampler's calls: batch rows, low_res length, labels; eps = 0.1 * x like the base toy. */
function toyUpsampler(calls: { n: number; lowRes: number; y: number[] | null }[]) {
  return {
    denoiseWith(lowRes: Float32Array): DenoiseFn {
      const inner = toyDenoise();
      return (x, t, y, shape) => {
        calls.push({ n: shape[0], lowRes: lowRes.length, y: y ? [...y] : null });
        return inner(x, t, y, shape);
      };
    },
  };
}

function setup(onPost?: (msg: FromWorker, runner: ReturnType<typeof createRunner>) => void, manifest: PackManifest = fakeManifest({ upsampler: UP })) {
  const rec = recorder((m) => onPost?.(m, runner));
  const runner = createRunner({ post: rec.post, yieldToEvents: macrotask, now: () => 0 });
  const upCalls: { n: number; lowRes: number; y: number[] | null }[] = [];
  const model: RunModel = { manifest, denoise: toyDenoise(), classifierGrad: toyGrad(), upsampler: toyUpsampler(upCalls) };
  return { rec, runner, model, upCalls };
}

const frames = (posted: { msg: FromWorker }[]) => posted.flatMap((p) => (p.msg.kind === 'frame' ? [p.msg] : []));

describe('runner: the upsampler cascade', () => {
  it('runs the base model, then the upsampler, streaming both stages with their own sizes', async () => {
    const { rec, runner, model, upCalls } = setup();
    await runner.generate(1, params(), model);
    expect(rec.kinds()).toEqual(['started', ...Array(10 + 4).fill('frame'), 'done']);
    expect(rec.posted[0].msg).toEqual({ kind: 'started', runId: 1, numSteps: 10, upsampleSteps: 4 });
    const fs = frames(rec.posted);
    const base = fs.filter((f) => f.stage === 'base');
    const up = fs.filter((f) => f.stage === 'upsample');
    expect(base.map((f) => [f.step, f.numSteps, f.width, f.height])).toEqual(Array.from({ length: 10 }, (_, k) => [k + 1, 10, 8, 8]));
    expect(up.map((f) => [f.step, f.numSteps, f.width, f.height])).toEqual([1, 2, 3, 4].map((k) => [k, 4, 16, 16]));
    for (const f of up) expect(f.rgba.byteLength).toBe(16 * 16 * 4);
    // One row, low_res = the base sample (3 x 8 x 8), the class in the pack's label space (ImageNet 217 -> 1).
    expect(upCalls).toEqual(Array(4).fill({ n: 1, lowRes: 3 * 8 * 8, y: [1] }));
  });

  it('stops after the base model with upsample: false, and for grid runs', async () => {
    const { rec, runner, model, upCalls } = setup();
    await runner.generate(1, params({ upsample: false }), model);
    expect(rec.posted[0].msg).toEqual({ kind: 'started', runId: 1, numSteps: 10 });
    expect(frames(rec.posted).every((f) => f.stage === 'base' && f.width === 8)).toBe(true);
    expect(rec.kinds().at(-1)).toBe('done');
    const grid = {
      view: 'sweep' as const,
      cells: [0, 1].map((s) => ({ seed: 7, guidanceMode: 'classifier' as const, classifierScale: s, cfgScale: 0 })),
      groups: [[0, 1]],
    };
    await runner.generate(2, params({ grid }), model);
    expect(rec.kinds().slice(-2)).toEqual(['gridReadout', 'done']);
    expect(upCalls).toEqual([]);
  });

  it('the upsample stage is deterministic for a seed', async () => {
    const a = setup();
    await a.runner.generate(1, params(), a.model);
    const b = setup();
    await b.runner.generate(1, params(), b.model);
    const last = (r: typeof a) => new Uint8Array(frames(r.rec.posted).at(-1)!.rgba);
    expect(last(a)).toEqual(last(b));
  });

  it('cancels during the upsample stage and says so', async () => {
    const { rec, runner, model, upCalls } = setup((m, r) => {
      if (m.kind === 'frame' && m.stage === 'upsample' && m.step === 2) r.cancel(1);
    });
    await runner.generate(1, params(), model);
    expect(rec.posted.at(-1)!.msg).toEqual({ kind: 'cancelled', runId: 1, step: 10, stage: 'upsample', upsampleStep: 2 });
    expect(frames(rec.posted).filter((f) => f.stage === 'upsample')).toHaveLength(2);
    expect(upCalls).toHaveLength(2);
    expect(rec.kinds()).not.toContain('done');
  });

  it('a cancel during the base stage never starts the upsampler', async () => {
    const { rec, runner, model, upCalls } = setup((m, r) => {
      if (m.kind === 'frame' && m.step === 3) r.cancel(1);
    });
    await runner.generate(1, params(), model);
    expect(rec.posted.at(-1)!.msg).toEqual({ kind: 'cancelled', runId: 1, step: 3 });
    expect(upCalls).toEqual([]);
  });

  it('a NaN from the upsampler is not blamed on an fp16 base U-Net (fp16=0 would not change the upsampler)', async () => {
    const { rec, runner, model } = setup();
    const nanUpsampler = { denoiseWith: () => (async (x, t, y, shape) => (await toyDenoise()(x, t, y, shape)).fill(NaN)) as DenoiseFn };
    await runner.generate(1, params(), { ...model, upsampler: nanUpsampler, fp16Unet: true });
    const msg = rec.posted.at(-1)!.msg as { kind: string; message: string };
    expect(msg.kind).toBe('error');
    expect(msg.message).toMatch(/the U-Net output is not finite/);
    expect(msg.message).not.toMatch(/fp16/);
  });

  it('a pack without an upsampler ignores the upsampler session', async () => {
    const { rec, runner, model, upCalls } = setup(undefined, fakeManifest());
    await runner.generate(1, params(), model);
    expect(frames(rec.posted)).toHaveLength(10);
    expect(upCalls).toEqual([]);
  });
});
