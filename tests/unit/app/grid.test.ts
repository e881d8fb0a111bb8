// Grid runs (issue 9): the sweep and diversity layouts, the request Generate sends, the worker's
// grid plan, the runner streaming all cells of one batch, and routing grid messages to the UI.
import { describe, expect, it } from 'vitest';
import type { ClassifierGradFn } from '../../../src/diffusion';
import type { FromWorker, GenerateParams } from '../../../src/shared/protocol';
import { createFrameBus } from '../../../src/ui/frames';
import { buildRequest, diversityLayout, gridLayout, packCaps, sweepLayout } from '../../../src/ui/gridRequest';
import { createLiveBuses, type GridFrame } from '../../../src/ui/liveFrames';
import { INITIAL_PARAMS, type Params } from '../../../src/ui/store/paramsSlice';
import { createAppStore } from '../../../src/ui/store/store';
import { routeMessage } from '../../../src/ui/bridge/route';
import { planRun } from '../../../src/pipeline';
import { createRunner, type RunModel } from '../../../src/worker/run/runner';
import { fakeManifest, macrotask, recorder } from './fakes';

const params = (over: Partial<Params> = {}): Params => ({ ...INITIAL_PARAMS, imagenetClass: 217, steps: 6, seed: 5, ...over });
const both = { cfg: true, classifier: true };

describe('grid layouts', () => {
  it('sweep: one seed, a classifier row and a CFG row, named by what differs', () => {
    const l = sweepLayout(params({ view: 'sweep' }), both);
    expect(l.rows.map((r) => r.title)).toEqual(['Classifier guidance', 'Classifier-free guidance']);
    expect(l.rows[0].cells.map((c) => c.name)).toEqual(['scale 0', 'scale 1', 'scale 2', 'scale 4', 'scale 8', 'scale 16']);
    expect(l.rows[1].cells.map((c) => c.name)).toEqual(['CFG scale 0', 'CFG scale 1', 'CFG scale 2', 'CFG scale 3', 'CFG scale 5', 'CFG scale 8']);
    expect(l.cells).toHaveLength(12);
    expect(new Set(l.cells.map((c) => c.seed))).toEqual(new Set([5]));
    expect(l.rows[1].cells.map((c) => c.index)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(l.cells[3]).toEqual({ seed: 5, guidanceMode: 'classifier', classifierScale: 4, cfgScale: 0 });
    expect(l.cells[9]).toEqual({ seed: 5, guidanceMode: 'cfg', classifierScale: 0, cfgScale: 3 });
    expect(l.groups).toEqual([]);
  });

  it('sweep without classifier-free guidance (or without a classifier) keeps one row', () => {
    expect(sweepLayout(params(), { cfg: false, classifier: true }).rows.map((r) => r.title)).toEqual(['Classifier guidance']);
    expect(sweepLayout(params(), { cfg: true, classifier: false }).rows.map((r) => r.title)).toEqual(['Classifier-free guidance']);
    expect(packCaps(fakeManifest({ unconditionalLabel: null }))).toEqual({ cfg: false, classifier: true });
    expect(packCaps(null)).toEqual(both);
  });

  it('diversity: N seeds at each of two scales, one group per grid, the kind of scale from the mode', () => {
    const l = diversityLayout(params({ view: 'diversity', diversitySeeds: 3, diversityScales: [0, 8] }), both);
    expect(l.rows.map((r) => r.title)).toEqual(['scale 0', 'scale 8']);
    expect(l.rows[0].cells.map((c) => c.name)).toEqual(['seed 5', 'seed 6', 'seed 7']);
    expect(l.groups).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(l.cells[4]).toEqual({ seed: 6, guidanceMode: 'classifier', classifierScale: 8, cfgScale: 0 });
    const cfg = diversityLayout(params({ guidanceMode: 'cfg', diversitySeeds: 2, diversityScales: [1, 4] }), both);
    expect(cfg.rows.map((r) => r.title)).toEqual(['CFG scale 1', 'CFG scale 4']);
    expect(cfg.cells[2]).toEqual({ seed: 5, guidanceMode: 'cfg', classifierScale: 0, cfgScale: 4 });
    const mixed = diversityLayout(params({ guidanceMode: 'both', cfgScale: 2, diversitySeeds: 2, diversityScales: [1, 4] }), both);
    expect(mixed.cells[3]).toEqual({ seed: 6, guidanceMode: 'both', classifierScale: 4, cfgScale: 2 });
    // Seeds wrap at 2^32.
    expect(diversityLayout(params({ seed: 0xffffffff, diversitySeeds: 2 }), both).cells.map((c) => c.seed)).toEqual([0xffffffff, 0, 0xffffffff, 0]);
  });

  it('single view: no grid; buildRequest sends the shared fields and the grid of the view', () => {
    expect(gridLayout(params(), both)).toBeNull();
    const single = buildRequest(params({ gradientAt: 'mean' }), fakeManifest());
    expect(single.grid).toBeUndefined();
    expect(single.gradientAt).toBe('mean');
    expect(Object.keys(single)).not.toContain('view');
    const sweep = buildRequest(params({ view: 'sweep', sweepScales: [0, 3], sweepCfgScales: [2] }), fakeManifest());
    expect(sweep.grid?.view).toBe('sweep');
    expect(sweep.grid?.cells.map((c) => [c.guidanceMode, c.classifierScale, c.cfgScale])).toEqual([['classifier', 0, 0], ['classifier', 3, 0], ['cfg', 0, 2]]);
  });
});

const gen = (over: Partial<GenerateParams> = {}): GenerateParams => ({
  imagenetClass: 217, classifierScale: 2, steps: 5, sampler: 'ddim', seed: 7, conditionUnet: true, previewOf: 'predX0', ...over,
});

describe('planGrid (through planRun)', () => {
  it('per-cell labels, seeds and fixed scales; one null-label entry per cell; a classifier target for every cell', () => {
    const grid = buildRequest(params({ view: 'sweep', sweepScales: [0, 4], sweepCfgScales: [0, 3], conditionUnet: false }), fakeManifest()).grid!;
    const p = planRun(fakeManifest(), gen({ grid, conditionUnet: false }));
    expect(p.shape).toEqual([4, 3, 8, 8]);
    // cond=0: classifier cells get the null label, CFG cells always the class (model label 1).
    expect([...p.unetLabels!]).toEqual([3, 3, 1, 1]);
    expect([...p.classifierLabels!]).toEqual([1, 1, 1, 1]);
    expect([...p.nullLabels!]).toEqual([3, 3, 3, 3]);
    expect([...p.cellScales!.classifier]).toEqual([0, 4, 0, 0]);
    expect([...p.cellScales!.cfg]).toEqual([0, 0, 0, 3]);
    expect(p.seeds).toEqual([5, 5, 5, 5]);
    expect(p.grid?.view).toBe('sweep');
  });

  it('a classifier-only grid has no null branch; a single run has no cell scales', () => {
    const grid = { view: 'diversity' as const, cells: [1, 2].map((seed) => ({ seed, guidanceMode: 'classifier' as const, classifierScale: 1, cfgScale: 0 })), groups: [[0, 1]] };
    const p = planRun(fakeManifest(), gen({ grid }));
    expect(p.nullLabels).toBeNull();
    expect(p.seeds).toEqual([1, 2]);
    const single = planRun(fakeManifest(), gen());
    expect(single.cellScales).toBeNull();
    expect(single.seeds).toEqual([7]);
    expect(single.grid).toBeNull();
  });

  it.each([
    [{ cells: [] }, /1 to 32 cells/],
    [{ cells: Array(33).fill({ seed: 1, guidanceMode: 'classifier', classifierScale: 1, cfgScale: 0 }) }, /1 to 32 cells \(got 33\)/],
    [{ cells: [{ seed: -1, guidanceMode: 'classifier', classifierScale: 1, cfgScale: 0 }] }, /grid cell 1: seed -1/],
    [{ cells: [{ seed: 1, guidanceMode: 'sideways', classifierScale: 1, cfgScale: 0 }] }, /grid cell 1: guidance mode "sideways"/],
    [{ cells: [{ seed: 1, guidanceMode: 'classifier', classifierScale: 99, cfgScale: 0 }] }, /guidance scale 99 is outside/],
    [{ cells: [{ seed: 1, guidanceMode: 'cfg', classifierScale: 0, cfgScale: Number.NaN }] }, /classifier-free guidance scale NaN/],
    [{ groups: [[0, 5]] }, /grid group 0,5 must list cells 0..0/],
    [{ view: 'mosaic' }, /grid view "mosaic"/],
  ])('rejects %o', (over, message) => {
    const grid = { view: 'sweep', cells: [{ seed: 1, guidanceMode: 'classifier', classifierScale: 1, cfgScale: 0 }], groups: [], ...over };
    expect(() => planRun(fakeManifest(), gen({ grid: grid as GenerateParams['grid'] }))).toThrow(message);
  });

  it('refuses CFG cells for a pack without a null label', () => {
    const grid = { view: 'sweep' as const, cells: [{ seed: 1, guidanceMode: 'cfg' as const, classifierScale: 0, cfgScale: 2 }], groups: [] };
    expect(() => planRun(fakeManifest({ unconditionalLabel: null }), gen({ grid }))).toThrow(/cannot use classifier-free guidance/);
  });
});

/** Per-row toy U-Net: eps = 0.1·x_t + 0.05·y, v = 0 (rows independent, unlike the 1-sample toyDenoise). */
function rowDenoise(calls: { y: number[] | null; t: number }[]): RunModel['denoise'] {
  return async (x, t, y, shape) => {
    calls.push({ y: y ? [...y] : null, t: t[0] });
    const [n, , h, w] = shape;
    const plane = 3 * h * w;
    const out = new Float32Array(n * 2 * plane);
    for (let s = 0; s < n; s++) for (let k = 0; k < plane; k++) out[s * 2 * plane + k] = 0.1 * x[s * plane + k] + 0.05 * (y?.[s] ?? 0);
    return out;
  };
}

/** Per-sample toy gradient: pulls every pixel toward +0.5; logp per row. */
function rowGrad(calls: number[]): ClassifierGradFn {
  return async (x, _t, _y, shape) => {
    calls.push(shape[0]);
    const per = x.length / shape[0];
    const logp = new Float32Array(shape[0]);
    for (let s = 0; s < shape[0]; s++) for (let k = s * per; k < (s + 1) * per; k++) logp[s] -= (x[k] - 0.5) ** 2 / per;
    return { grad: x.map((v) => 0.5 - v), logp };
  };
}

function gridRun(grid: NonNullable<GenerateParams['grid']>, over: Partial<GenerateParams> = {}, onPost?: (m: FromWorker, r: ReturnType<typeof createRunner>) => void) {
  const rec = recorder((m) => onPost?.(m, runner));
  const runner = createRunner({ post: rec.post, yieldToEvents: macrotask, now: () => 0 });
  const unet: { y: number[] | null; t: number }[] = [];
  const grads: number[] = [];
  const logitCalls: number[] = [];
  const model: RunModel = {
    manifest: fakeManifest(), denoise: rowDenoise(unet), classifierGrad: rowGrad(grads),
    classifierReadout: async (x, _t, _y, shape) => {
      logitCalls.push(shape[0]);
      const per = x.length / shape[0];
      return { logits: Float32Array.from({ length: shape[0] * 3 }, (_, k) => x[Math.floor(k / 3) * per + (k % 3)] * 4), features: null };
    },
  };
  return { rec, model, unet, grads, logitCalls, go: (runId = 1) => runner.generate(runId, gen({ grid, ...over }), model) };
}

const gridFrames = (posted: { msg: FromWorker }[]) => posted.flatMap((p) => (p.msg.kind === 'gridFrame' ? [p.msg] : []));
const tile = (f: Extract<FromWorker, { kind: 'gridFrame' }>, k: number) => [...new Uint8Array(f.rgba, k * f.width * f.height * 4, f.width * f.height * 4)];

describe('runner: grid runs', () => {
  const sweep = buildRequest(params({ view: 'sweep', sweepScales: [0, 4, 4], sweepCfgScales: [0, 3] }), fakeManifest()).grid!;

  it('one U-Net call (cells + CFG rows) and one gradient call (the classifier-guided cells only) per step; every frame carries every cell', async () => {
    const r = gridRun(sweep);
    await r.go();
    expect(r.rec.kinds()).toEqual(['started', ...Array(5).fill('gridFrame'), 'gridReadout', 'done']);
    expect(r.unet.map((c) => c.y?.length)).toEqual(Array(5).fill(6)); // 5 cells + 1 null row (CFG scale 3)
    expect(r.grads).toEqual(Array(5).fill(2)); // the two scale-4 cells; scale 0 and the CFG row skip the gradient graph
    const fs = gridFrames(r.rec.posted);
    expect(fs.map((f) => f.step)).toEqual([1, 2, 3, 4, 5]);
    for (const p of r.rec.posted.filter((q) => q.msg.kind === 'gridFrame')) {
      const f = p.msg as Extract<FromWorker, { kind: 'gridFrame' }>;
      expect(f.cells).toBe(5);
      expect(f.rgba.byteLength).toBe(5 * 8 * 8 * 4);
      expect(p.transfer).toEqual([f.rgba]);
      expect(f.logp!.map((v) => v !== null)).toEqual([false, true, true, false, false]);
    }
    // The final read-out scores every cell, the unguided ones included.
    const readout = r.rec.posted.find((p) => p.msg.kind === 'gridReadout')!.msg as Extract<FromWorker, { kind: 'gridReadout' }>;
    expect(readout.logp).toHaveLength(5);
    expect(readout.logp!.every((v) => Number.isFinite(v) && v <= 0)).toBe(true);
    const last = fs.at(-1)!;
    // Same seed: the two scale-4 cells are identical, scale 0 differs; the CFG row differs from the classifier row.
    expect(tile(last, 1)).toEqual(tile(last, 2));
    expect(tile(last, 0)).not.toEqual(tile(last, 1));
    expect(tile(last, 4)).not.toEqual(tile(last, 0));
    // Unguided classifier cell and CFG w = 0 cell: both plain conditional sampling from the same noise.
    expect(tile(last, 0)).toEqual(tile(last, 3));
  });

  it('a cell equals a single run with its seed and scale (DDIM and DDPM)', async () => {
    for (const sampler of ['ddim', 'ddpm'] as const) {
      const r = gridRun(sweep, { sampler });
      await r.go();
      const last = gridFrames(r.rec.posted).at(-1)!;
      const single = createRunner({ post: (m) => void (m.kind === 'frame' && m.step === 5 && (one = m)), yieldToEvents: macrotask, now: () => 0 });
      let one: Extract<FromWorker, { kind: 'frame' }> | null = null;
      await single.generate(1, gen({ sampler, seed: 5, classifierScale: 4 }), r.model);
      expect(tile(last, 1), sampler).toEqual([...new Uint8Array(one!.rgba)]);
    }
  });

  it('diversity read-outs: live pixel L2 per group, and pixel and classifier L2 of the final samples', async () => {
    const grid = buildRequest(params({ view: 'diversity', diversitySeeds: 3, diversityScales: [0, 8] }), fakeManifest()).grid!;
    const r = gridRun(grid);
    await r.go();
    const fs = gridFrames(r.rec.posted);
    expect(fs.every((f) => f.pixelDiversity.length === 2 && f.pixelDiversity.every((v) => v > 0))).toBe(true);
    expect(r.logitCalls).toEqual([6]);
    const readout = r.rec.posted.find((p) => p.msg.kind === 'gridReadout')!.msg as Extract<FromWorker, { kind: 'gridReadout' }>;
    expect(readout.pixelL2).toHaveLength(2);
    expect(readout.classifierL2).toHaveLength(2);
    // Strong guidance toward one target pulls the seeds together.
    expect(readout.pixelL2[1]).toBeLessThan(readout.pixelL2[0]);
  });

  it('Stop between steps: cancelled, no read-out', async () => {
    const r = gridRun(sweep, {}, (m, runner) => {
      if (m.kind === 'gridFrame' && m.step === 2) runner.cancel(1);
    });
    await r.go();
    expect(r.rec.kinds()).toEqual(['started', 'gridFrame', 'gridFrame', 'cancelled']);
    expect(r.logitCalls).toEqual([]);
  });

  it('a single run sends the guidance heat map and gradient norm with each guided frame', async () => {
    const r = gridRun(sweep);
    const posted: { msg: FromWorker; transfer: Transferable[] }[] = [];
    const single = createRunner({ post: (msg, transfer = []) => posted.push({ msg, transfer }), yieldToEvents: macrotask, now: () => 0 });
    await single.generate(1, gen({ classifierScale: 3 }), r.model);
    const f = posted.find((p) => p.msg.kind === 'frame')!;
    const m = f.msg as Extract<FromWorker, { kind: 'frame' }>;
    expect(m.heat!.byteLength).toBe(8 * 8 * 4);
    const heat = new Float32Array(m.heat!);
    expect(Math.max(...heat)).toBeCloseTo(m.heatMax!, 5);
    expect(m.gradNorm).toBeGreaterThan(0);
    expect(f.transfer).toEqual([m.rgba, m.heat]);
    posted.length = 0;
    await single.generate(2, gen({ classifierScale: 0 }), r.model);
    expect(posted.filter((p) => p.msg.kind === 'frame').every((p) => (p.msg as { heat?: unknown }).heat === null)).toBe(true);
  });
});

describe('routing grid messages', () => {
  function setup() {
    const store = createAppStore();
    const live = createLiveBuses();
    const seen: GridFrame[] = [];
    live.grid.sweep.subscribe((f) => seen.push(f));
    const send = (m: FromWorker) => routeMessage(store, createFrameBus(), m, live);
    return { store, live, seen, send };
  }
  const gf = (runId: number, step: number): FromWorker => ({
    kind: 'gridFrame', runId, step, numSteps: 3, timestep: 10, width: 1, height: 1, cells: 2, rgba: new Uint8ClampedArray(8).fill(step).buffer,
    logp: [-1, -2], pixelDiversity: [],
  });

  it('publishes to the bus of the run view, updates the shared status, drops stale runs', () => {
    const { store, live, seen, send } = setup();
    const grid = { view: 'sweep' as const, cells: [], groups: [] };
    store.getState().runRequested(4, 3, gen({ grid }));
    store.getState().gridRunStarted(4, sweepLayout(params(), both));
    send(gf(3, 1));
    expect(seen).toHaveLength(0);
    send(gf(4, 1));
    send(gf(4, 2));
    expect(seen.map((f) => [f.step, f.cells, f.rgba[0]])).toEqual([[1, 2, 1], [2, 2, 2]]);
    expect(live.grid.diversity.latest()).toBeNull();
    const s = store.getState();
    expect(s.step).toBe(2);
    expect(s.logp).toEqual([null, null]); // the single view's chart stays empty
    expect(s.gridRuns.sweep).toMatchObject({ runId: 4, step: 2, logp: [-1, -2] });
    send({ kind: 'gridReadout', runId: 4, pixelL2: [0.5], classifierL2: null, logp: [-0.5, -3] });
    expect(store.getState().gridRuns.sweep?.readout).toEqual({ pixelL2: [0.5], classifierL2: null, logp: [-0.5, -3] });
  });

  it('single frames publish the heat map and the gradient norm', () => {
    const { store, live, send } = setup();
    store.getState().runRequested(2, 3, gen());
    send({
      kind: 'frame', runId: 2, step: 1, numSteps: 3, timestep: 9, width: 1, height: 2, rgba: new ArrayBuffer(8), logp: -1, classifierScale: 1, cfgScale: 0,
      gradNorm: 2.5, heat: Float32Array.of(1, 3).buffer, heatMax: 3,
    });
    expect(store.getState().gradNorm).toEqual([2.5]);
    expect(Array.from(live.heat.latest()!.heat)).toEqual([1, 3]);
  });
});

describe('client: grid requests', () => {
  it('Generate in the sweep view sends the grid, records its layout, and does not forward the sliders', async () => {
    const { createDiffusionClient } = await import('../../../src/ui/bridge/client');
    const store = createAppStore();
    const sent: import('../../../src/shared/protocol').ToWorker[] = [];
    let onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
    const client = createDiffusionClient(store, createFrameBus(), () => ({
      postMessage: (m) => sent.push(m), terminate() {},
      get onmessage() { return onmessage; }, set onmessage(f) { onmessage = f; }, onerror: null,
    }), createLiveBuses());
    client.attach();
    client.loadPack({ id: 'p', title: 'P', url: 'https://x.test/models/p/' });
    const load = sent[0] as Extract<typeof sent[number], { kind: 'load' }>;
    onmessage!({ data: { kind: 'ready', loadId: load.loadId, manifest: fakeManifest(), warmupMs: 1, epInfo: { ep: 'wasm', reason: 'r', adapter: null, fp16: false, wasmThreads: 1 } } } as MessageEvent<FromWorker>);
    store.getState().setParam('view', 'sweep');
    store.getState().setParam('sweepScales', [0, 2]);
    client.generate();
    const g = sent.at(-1) as Extract<typeof sent[number], { kind: 'generate' }>;
    expect(g.params.grid?.cells.map((c) => c.classifierScale)).toEqual([0, 2, 0, 0, 0, 0, 0, 0]);
    expect(store.getState().gridRuns.sweep?.layout.rows[0].cells.map((c) => c.name)).toEqual(['scale 0', 'scale 2']);
    store.getState().setParam('classifierScale', 7);
    store.getState().setParam('previewOf', 'x');
    expect(sent.at(-1)).toEqual({ kind: 'setPreview', runId: g.runId, previewOf: 'x' });
    expect(sent.some((m) => m.kind === 'setScale')).toBe(false);
  });
});
