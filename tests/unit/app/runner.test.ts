import { describe, expect, it } from 'vitest';
import { createRunner, type RunModel } from '../../../src/worker/run/runner';
import type { FromWorker, GenerateParams } from '../../../src/shared/protocol';
import { fakeManifest, macrotask, recorder, toyDenoise, toyGrad } from './fakes';

const params = (over: Partial<GenerateParams> = {}): GenerateParams => ({
  imagenetClass: 217, classifierScale: 2, steps: 10, sampler: 'ddim', seed: 7, conditionUnet: true, previewOf: 'predX0', ...over,
});

function setup(onPost?: (msg: FromWorker, runner: ReturnType<typeof createRunner>) => void) {
  const rec = recorder((m) => onPost?.(m, runner));
  const runner = createRunner({ post: rec.post, yieldToEvents: macrotask, now: () => 0 });
  const unetCalls: { y: number[] | null; t: number }[] = [];
  const gradCalls: number[][] = [];
  const model: RunModel = { manifest: fakeManifest(), denoise: toyDenoise(unetCalls), classifierGrad: toyGrad(gradCalls) };
  return { rec, runner: () => runner, model, unetCalls, gradCalls };
}

const frames = (posted: { msg: FromWorker }[]) =>
  posted.flatMap((p) => (p.msg.kind === 'frame' ? [p.msg] : []));

describe('runner', () => {
  it('streams one transferred RGBA frame per step, then done', async () => {
    const { rec, runner, model, unetCalls, gradCalls } = setup();
    await runner().generate(1, params(), model);
    expect(rec.kinds()).toEqual(['started', ...Array(10).fill('frame'), 'done']);
    const fs = frames(rec.posted);
    expect(fs.map((f) => f.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const p of rec.posted.filter((q) => q.msg.kind === 'frame')) {
      const f = p.msg as Extract<FromWorker, { kind: 'frame' }>;
      expect(f.rgba.byteLength).toBe(8 * 8 * 4);
      expect(p.transfer).toEqual([f.rgba, f.heat]); // the guidance heat map travels the same way
      expect(f.logp).toBeTypeOf('number');
      expect(f.runId).toBe(1);
    }
    // ImageNet 217 is model label 1; the U-Net and the classifier both get it.
    expect(unetCalls.every((c) => c.y?.[0] === 1)).toBe(true);
    expect(gradCalls.every((y) => y[0] === 1)).toBe(true);
    expect(unetCalls[0].t).toBeGreaterThan(unetCalls.at(-1)!.t);
  });

  it('gives the U-Net the unconditional label when conditioning is off', async () => {
    const { runner, model, unetCalls, gradCalls } = setup();
    await runner().generate(1, params({ conditionUnet: false }), model);
    expect(unetCalls.every((c) => c.y?.[0] === 3)).toBe(true);
    expect(gradCalls.every((y) => y[0] === 1)).toBe(true);
  });

  it('applies a new guidance scale from the next step without restarting', async () => {
    const { rec, runner, model } = setup((m, r) => {
      if (m.kind === 'frame' && m.step === 3) r.setScale(1, 9);
    });
    await runner().generate(1, params(), model);
    const scales = frames(rec.posted).map((f) => f.classifierScale);
    expect(scales).toEqual([2, 2, 2, 9, 9, 9, 9, 9, 9, 9]);
    expect(rec.kinds().filter((k) => k === 'started')).toHaveLength(1);
  });

  it('ignores scale changes for another run and refuses out-of-range ones, as planRun does', async () => {
    const { rec, runner, model } = setup((m, r) => {
      if (m.kind === 'frame' && m.step === 1) r.setScale(99, 5);
      if (m.kind === 'frame' && m.step === 2) r.setScale(1, 1e9);
      if (m.kind === 'frame' && m.step === 3) r.setScale(1, Number.NaN, -1);
      if (m.kind === 'frame' && m.step === 4) r.setScale(1, 7);
    });
    await runner().generate(1, params(), model);
    expect(frames(rec.posted).map((f) => f.classifierScale).slice(0, 6)).toEqual([2, 2, 2, 2, 7, 7]);
    await expect(runner().generate(2, params({ classifierScale: 1e9 }), model)).resolves.toBeUndefined();
    expect(rec.posted.at(-1)!.msg).toMatchObject({ kind: 'error', message: 'guidance scale 1000000000 is outside 0..20' });
  });

  it('cancels between steps and reports how far it got', async () => {
    const { rec, runner, model } = setup((m, r) => {
      if (m.kind === 'frame' && m.step === 4) r.cancel(1);
    });
    await runner().generate(1, params(), model);
    expect(rec.posted.at(-1)!.msg).toEqual({ kind: 'cancelled', runId: 1, step: 4 });
    expect(frames(rec.posted)).toHaveLength(4);
  });

  it('switches the preview between x_t and predicted x_0 mid-run', async () => {
    const { rec, runner, model } = setup((m, r) => {
      if (m.kind === 'frame' && m.step === 1) r.setPreview(1, 'x');
    });
    await runner().generate(1, params({ steps: 3 }), model);
    const [a, b] = frames(rec.posted).map((f) => new Uint8Array(f.rgba));
    expect(a).not.toEqual(b);
  });

  it('latest wins: a new generate cancels the running one, and no old frame follows', async () => {
    const { rec, runner, model } = setup();
    const first = runner().generate(1, params(), model);
    await macrotask();
    await macrotask();
    const second = runner().generate(2, params({ seed: 8 }), model);
    await Promise.all([first, second]);
    const msgs = rec.posted.map((p) => p.msg);
    const cancelledAt = msgs.findIndex((m) => m.kind === 'cancelled' && m.runId === 1);
    const startedAt = msgs.findIndex((m) => m.kind === 'started' && m.runId === 2);
    expect(cancelledAt).toBeGreaterThan(0);
    expect(startedAt).toBeGreaterThan(cancelledAt);
    expect(msgs.slice(startedAt).every((m) => !('runId' in m) || m.runId === 2)).toBe(true);
    expect(msgs.at(-1)).toMatchObject({ kind: 'done', runId: 2 });
  });

  it('a request superseded while waiting never starts', async () => {
    const { rec, runner, model } = setup();
    const a = runner().generate(1, params(), model);
    await macrotask();
    const b = runner().generate(2, params(), model);
    const c = runner().generate(3, params(), model);
    await Promise.all([a, b, c]);
    const msgs = rec.posted.map((p) => p.msg);
    expect(msgs.some((m) => m.kind === 'started' && m.runId === 2)).toBe(false);
    expect(msgs).toContainEqual({ kind: 'cancelled', runId: 2, step: 0 });
    expect(msgs.at(-1)).toMatchObject({ kind: 'done', runId: 3 });
  });

  it('turns a failing network call into an error message, and stays usable', async () => {
    const { rec, runner, model } = setup();
    let calls = 0;
    const broken: RunModel = {
      ...model,
      denoise: async (...args) => {
        if (++calls === 3) throw new Error('kernel exploded');
        return model.denoise(...args);
      },
    };
    await runner().generate(1, params(), broken);
    expect(rec.posted.at(-1)!.msg).toEqual({ kind: 'error', runId: 1, message: 'kernel exploded' });
    await runner().generate(2, params(), model);
    expect(rec.posted.at(-1)!.msg).toMatchObject({ kind: 'done', runId: 2 });
  });

  it('a non-finite U-Net output from an fp16 U-Net says how to run the fp32 one; from fp32 it does not', async () => {
    const { rec, runner, model } = setup();
    const nan: RunModel['denoise'] = async (...args) => (await model.denoise(...args)).fill(NaN);
    await runner().generate(1, params(), { ...model, denoise: nan, fp16Unet: true });
    const m16 = rec.posted.at(-1)!.msg;
    expect(m16).toMatchObject({ kind: 'error', runId: 1 });
    expect((m16 as { message: string }).message).toMatch(/the U-Net output is not finite .*\. The U-Net in use is the fp16 graph, which can overflow: add fp16=0 to the page URL/);
    await runner().generate(2, params(), { ...model, denoise: nan, fp16Unet: false });
    expect((rec.posted.at(-1)!.msg as { message: string }).message).not.toMatch(/fp16/);
  });

  it('rejects a class the pack does not know', async () => {
    const { rec, runner, model } = setup();
    await runner().generate(1, params({ imagenetClass: 5 }), model);
    expect(rec.posted).toHaveLength(1);
    expect(rec.posted[0].msg).toMatchObject({ kind: 'error', runId: 1 });
    expect((rec.posted[0].msg as { message: string }).message).toMatch(/does not know ImageNet class 5/);
  });

  it('is reproducible: same params, same pixels', async () => {
    const a = setup();
    const b = setup();
    await a.runner().generate(1, params(), a.model);
    await b.runner().generate(1, params(), b.model);
    expect(frames(a.rec.posted).map((f) => [...new Uint8Array(f.rgba)])).toEqual(frames(b.rec.posted).map((f) => [...new Uint8Array(f.rgba)]));
  });

  it('stopAll cancels the active run and resolves when it has ended', async () => {
    const { rec, runner, model } = setup();
    const run = runner().generate(1, params(), model);
    await macrotask();
    await runner().stopAll();
    expect(rec.posted.at(-1)!.msg.kind).toBe('cancelled');
    await run;
  });
});

describe('runner: classifier-free guidance', () => {
  it('cfg mode: one U-Net call per step on a batch of 2 (class, null label), no classifier call', async () => {
    const { rec, runner, model, unetCalls, gradCalls } = setup();
    await runner().generate(1, params({ guidanceMode: 'cfg', cfgScale: 3 }), model);
    expect(unetCalls).toHaveLength(10);
    expect(unetCalls.every((c) => c.y?.join() === '1,3')).toBe(true);
    expect(gradCalls).toHaveLength(0);
    const fs = frames(rec.posted);
    expect(fs.map((f) => [f.classifierScale, f.cfgScale])).toEqual(Array(10).fill([0, 3]));
    expect(fs.every((f) => f.logp === null)).toBe(true);
  });

  it('cfg scale 0 runs the plain batch of 1 and paints what an unguided run paints', async () => {
    const a = setup();
    await a.runner().generate(1, params({ guidanceMode: 'cfg', cfgScale: 0 }), a.model);
    expect(a.unetCalls.every((c) => c.y?.join() === '1')).toBe(true);
    const b = setup();
    await b.runner().generate(1, params({ classifierScale: 0 }), b.model);
    expect(frames(a.rec.posted).map((f) => [...new Uint8Array(f.rgba)])).toEqual(frames(b.rec.posted).map((f) => [...new Uint8Array(f.rgba)]));
  });

  it('both: the classifier and the 2-row U-Net batch at every step; setScale changes either scale mid-run', async () => {
    const { rec, runner, model, unetCalls, gradCalls } = setup((m, r) => {
      if (m.kind === 'frame' && m.step === 2) r.setScale(1, undefined, 0);
      if (m.kind === 'frame' && m.step === 4) r.setScale(1, 5, 8);
    });
    await runner().generate(1, params({ guidanceMode: 'both', cfgScale: 2 }), model);
    const fs = frames(rec.posted);
    expect(fs.map((f) => f.classifierScale)).toEqual([2, 2, 2, 2, 5, 5, 5, 5, 5, 5]);
    expect(fs.map((f) => f.cfgScale)).toEqual([2, 2, 0, 0, 8, 8, 8, 8, 8, 8]);
    expect(unetCalls.map((c) => c.y?.length)).toEqual([2, 2, 1, 1, 2, 2, 2, 2, 2, 2]);
    expect(gradCalls).toHaveLength(10);
  });

  it('the classifier mode ignores the CFG scale, and the guidance interval limits both kinds', async () => {
    const a = setup();
    await a.runner().generate(1, params({ cfgScale: 5 }), a.model);
    expect(a.unetCalls.every((c) => c.y?.length === 1)).toBe(true);
    const b = setup();
    // ddim10 over 1000 steps: timesteps 900, 800, ..., 0; guide only at 300..600.
    await b.runner().generate(1, params({ guidanceMode: 'both', cfgScale: 2, guidanceInterval: [300, 600] }), b.model);
    expect(b.unetCalls.filter((c) => c.y?.length === 2).map((c) => c.t)).toEqual([600, 500, 400, 300]);
    expect(b.gradCalls).toHaveLength(4);
    expect(frames(b.rec.posted).map((f) => f.cfgScale)).toEqual([0, 0, 0, 2, 2, 2, 2, 0, 0, 0]);
  });

  it('reports a pack that cannot use classifier-free guidance', async () => {
    const { rec, runner, model } = setup();
    await runner().generate(1, params({ guidanceMode: 'cfg', cfgScale: 2 }), { ...model, manifest: fakeManifest({ unconditionalLabel: null }) });
    expect(rec.posted[0].msg).toMatchObject({ kind: 'error', runId: 1 });
  });
});
