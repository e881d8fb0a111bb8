// The Trade-off view (issue 21): its layout and URL state, the pack's default scales, the worker's
// read-outs (live fidelity per scale, precision/recall against reference features or why not), the
// rows, chart and exported PNG the page builds from them.
import { describe, expect, it } from 'vitest';
import { kthNeighbourRadii, precisionRecall, type ClassifierGradFn } from '../../../src/diffusion';
import type { FromWorker, GenerateParams } from '../../../src/shared/protocol';
import { planExport } from '../../../src/ui/exportGrid';
import { buildRequest, tradeoffLayout } from '../../../src/ui/gridRequest';
import { tradeoffScalesFor } from '../../../src/ui/packDefaults';
import type { GridRunInfo } from '../../../src/ui/store/gridSlice';
import { INITIAL_PARAMS, type Params } from '../../../src/ui/store/paramsSlice';
import { createAppStore } from '../../../src/ui/store/store';
import { chartLabel, planChart, tradeoffRows } from '../../../src/ui/tradeoffChart';
import { parseUrlParams, toSearch } from '../../../src/ui/url';
import { createFrameBus } from '../../../src/ui/frames';
import { createLiveBuses } from '../../../src/ui/liveFrames';
import { routeMessage } from '../../../src/ui/bridge/route';
import { createRunner, type RunModel } from '../../../src/worker/run/runner';
import { groupMeanLogp, groupPrecisionRecall, referenceFromBytes } from '../../../src/worker/run/tradeoff';
import { fakeManifest, macrotask, recorder } from './fakes';

const params = (over: Partial<Params> = {}): Params => ({ ...INITIAL_PARAMS, imagenetClass: 217, steps: 4, seed: 5, view: 'tradeoff', ...over });
const both = { cfg: true, classifier: true };
const col = (...v: number[]) => Float32Array.from(v);

describe('precision and recall (src/diffusion/precisionRecall.ts)', () => {
  it('by hand, as tests/python/test_metrics.py: k-th neighbour radii, balls closed at their edge', () => {
    expect([...kthNeighbourRadii(col(0, 1, 3, 6, 10), 1, 3)].map(Math.sqrt)).toEqual([6, 5, 3, 5, 9]);
    expect(precisionRecall(col(0, 1, 2, 3, 10), col(0.5, 2.9, 5), 1, 1)).toEqual({ precision: 1, recall: 0.8 });
    const pr = precisionRecall(col(0, 1, 2, 3), col(0.5, 2.9, 5), 1, 1);
    expect(pr.precision).toBeCloseTo(2 / 3, 12);
    expect(pr.recall).toBe(1);
    expect(precisionRecall(col(0, 1, 2, 3), col(4, 4.5, 9), 1, 1).precision).toBeCloseTo(1 / 3, 12);
    expect(() => precisionRecall(col(0, 1, 2), col(0, 1, 2, 3), 1, 3)).toThrow(/more than k/);
  });
});

describe('trade-off layout, URL and pack defaults', () => {
  it('N seeds at each of K scales, one line and one group per scale, the kind of scale from the mode', () => {
    const l = tradeoffLayout(params({ tradeoffScales: [0, 2, 4], tradeoffSeeds: 4 }), both);
    expect(l.view).toBe('tradeoff');
    expect(l.rows.map((r) => r.title)).toEqual(['scale 0', 'scale 2', 'scale 4']);
    expect(l.rows.every((r) => r.columns === null && r.cells.length === 4)).toBe(true);
    expect(l.groups).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    expect(l.cells[5]).toEqual({ seed: 6, guidanceMode: 'classifier', classifierScale: 2, cfgScale: 0 });
    const b = tradeoffLayout(params({ guidanceMode: 'both', cfgScale: 3, tradeoffScales: [0, 4], tradeoffSeeds: 4 }), both);
    expect(b.rows.map((r) => r.title)).toEqual(['scale 0, CFG scale 3', 'scale 4, CFG scale 3']);
    expect(buildRequest(params({ tradeoffSeeds: 4 }), fakeManifest()).grid?.view).toBe('tradeoff');
  });

  it('view=tradeoff, tscales and tn round-trip; bad values are refused with a sentence', () => {
    const { values, errors } = parseUrlParams('?view=tradeoff&tscales=0,1.5,3&tn=5');
    expect(errors).toEqual([]);
    expect(values).toEqual({ view: 'tradeoff', tradeoffScales: [0, 1.5, 3], tradeoffSeeds: 5 });
    expect(toSearch(params({ tradeoffScales: [0, 1.5, 3], tradeoffSeeds: 5 }))).toMatch(/view=tradeoff&tscales=0%2C1\.5%2C3&tn=5/);
    expect(toSearch(params({ view: 'single' }))).not.toMatch(/tscales|tn=/);
    const bad = parseUrlParams('?tn=3&tscales=1,2,3,4,5,6');
    expect(bad.values).toEqual({});
    expect(bad.errors).toHaveLength(2);
    expect(bad.errors[0]).toMatch(/^URL parameter tscales=1,2,3,4,5,6 /);
    expect(bad.errors[1]).toBe('URL parameter tn=3 must be a whole number from 4 to 6; using the default instead.');
  });

  it("defaults: 0, s/2, s, 2s of the pack's recommended scale (w in cfg mode)", () => {
    expect(tradeoffScalesFor(fakeManifest({ sampling: { classifierScale: 4, timestepRespacing: 'ddim25', useDdim: true, guidanceMode: 'both', cfgScale: 3 } }))).toEqual([0, 2, 4, 8]);
    expect(tradeoffScalesFor(fakeManifest({ sampling: { classifierScale: 4, timestepRespacing: 'ddim25', useDdim: true, guidanceMode: 'cfg', cfgScale: 3 } }))).toEqual([0, 1.5, 3, 6]);
    expect(tradeoffScalesFor(fakeManifest({ sampling: { classifierScale: 15, timestepRespacing: 'ddim25', useDdim: true } }))).toEqual([0, 7.5, 15, 20]);
    expect(tradeoffScalesFor(fakeManifest({ sampling: { classifierScale: 0, timestepRespacing: 'ddim25', useDdim: true } }))).toEqual([0, 2, 4, 8]);
  });
});

describe('worker read-outs (src/worker/run/tradeoff.ts)', () => {
  const ref = { data: Float32Array.from({ length: 2 * 5 * 2 }, (_, i) => (i % 7) - 3 + (i >= 10 ? 20 : 0)), shape: [2, 5, 2] as const };

  it('mean log p per group at each cell\'s label', () => {
    const logits = Float32Array.of(0, 0, 2, 0, 0, 5, 1, 1);
    const labels = Int32Array.of(0, 0, 1, 1);
    const lp = groupMeanLogp(logits, labels, [[0, 1], [2, 3]]);
    const ls = (a: number, b: number) => a - Math.log(Math.exp(a) + Math.exp(b));
    expect(lp[0]).toBeCloseTo((ls(0, 0) + ls(2, 0)) / 2, 6);
    expect(lp[1]).toBeCloseTo((ls(5, 0) + ls(1, 1)) / 2, 6);
  });

  it("precision and recall of each group against the label's block, or a note saying why not", () => {
    const features = Float32Array.from({ length: 8 * 2 }, (_, i) => (i < 8 ? (i % 5) - 2 : 50 + i));
    const groups = [[0, 1, 2, 3], [4, 5, 6, 7]];
    const got = groupPrecisionRecall(features, 8, groups, ref, 0);
    const real = ref.data.subarray(0, 10);
    expect(got.prNote).toBeNull();
    expect(got.precision![0]).toBe(precisionRecall(real, features.subarray(0, 8), 2).precision);
    expect(got.recall![1]).toBe(precisionRecall(real, features.subarray(8), 2).recall);
    expect(got.precision![1]).toBe(0); // far from the real images
    expect(groupPrecisionRecall(features, 8, groups, null, 0).prNote).toMatch(/carries no reference features/);
    expect(groupPrecisionRecall(null, 8, groups, ref, 0).prNote).toMatch(/no features output/);
    expect(groupPrecisionRecall(features, 4, groups, ref, 0).prNote).toMatch(/2 values per image but the classifier's features have 4/);
    expect(groupPrecisionRecall(features.subarray(0, 6), 3, [[0, 1, 2]], ref, 0).prNote).toMatch(/at least 4 seeds per scale/);
    expect(groupPrecisionRecall(features, 8, groups, ref, 5).prNote).toMatch(/no block for label 5/);
  });

  it('reference features from the pack file: float32 little-endian, sized by the manifest', () => {
    const data = Float32Array.of(1.5, -2, 0.25, 8);
    expect([...referenceFromBytes(new Uint8Array(data.buffer), [1, 4, 1]).data]).toEqual([1.5, -2, 0.25, 8]);
    expect(() => referenceFromBytes(new Uint8Array(12), [1, 4, 1])).toThrow(/12 bytes, expected 16/);
    expect(() => referenceFromBytes(new Uint8Array(Float32Array.of(NaN, 0, 0, 0).buffer), [1, 4, 1])).toThrow(/non-finite/);
  });
});

/** Toy networks: a U-Net that shrinks x, a classifier that pulls toward 0.5, read-outs of the first 3 values. */
function toyModel(reference: RunModel['reference'], readouts: number[]): RunModel {
  const denoise: RunModel['denoise'] = async (x, _t, _y, shape) => {
    const plane = x.length / shape[0];
    const out = new Float32Array(2 * x.length);
    for (let s = 0; s < shape[0]; s++) for (let k = 0; k < plane; k++) out[s * 2 * plane + k] = 0.1 * x[s * plane + k];
    return out;
  };
  const classifierGrad: ClassifierGradFn = async (x, _t, _y, shape) => ({ grad: x.map((v) => 0.5 - v), logp: new Float32Array(shape[0]) });
  return {
    manifest: fakeManifest(), denoise, classifierGrad, reference,
    classifierReadout: async (x, _t, _y, shape) => {
      readouts.push(shape[0]);
      const per = x.length / shape[0];
      const rows = Array.from({ length: shape[0] }, (_, s) => [...x.subarray(s * per, s * per + 3)]);
      return { logits: Float32Array.from(rows.flat()), features: Float32Array.from(rows.flatMap((r) => r.slice(0, 2))) };
    },
  };
}

describe('runner: trade-off runs', () => {
  const gen = (grid: GenerateParams['grid']): GenerateParams => ({
    imagenetClass: 217, classifierScale: 0, steps: 3, sampler: 'ddim', seed: 7, conditionUnet: true, previewOf: 'predX0', grid,
  });
  const grid = buildRequest(params({ tradeoffScales: [0, 4], tradeoffSeeds: 4 }), fakeManifest()).grid!;

  it('every frame carries the mean log p per scale; the read-out precision and recall per scale', async () => {
    const rec = recorder();
    const readouts: number[] = [];
    const reference = { data: Float32Array.from({ length: 3 * 6 * 2 }, (_, i) => Math.sin(i)), shape: [3, 6, 2] as const };
    await createRunner({ post: rec.post, yieldToEvents: macrotask, now: () => 0 }).generate(1, gen(grid), toyModel(reference, readouts));
    expect(readouts).toEqual([8, 8, 8, 8]); // one read-out per step (predicted x0) and one of the final samples
    const frames = rec.posted.flatMap((p) => (p.msg.kind === 'gridFrame' ? [p.msg] : []));
    expect(frames.map((f) => f.groupLogp?.length)).toEqual([2, 2, 2]);
    const out = rec.posted.find((p) => p.msg.kind === 'gridReadout')!.msg as Extract<FromWorker, { kind: 'gridReadout' }>;
    expect(out.precision).toHaveLength(2);
    expect(out.recall).toHaveLength(2);
    expect(out.prNote).toBeNull();
    expect(out.precision!.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('without reference features: fidelity and diversity only, and the read-out says why', async () => {
    const rec = recorder();
    await createRunner({ post: rec.post, yieldToEvents: macrotask, now: () => 0 }).generate(1, gen(grid), toyModel(null, []));
    const out = rec.posted.find((p) => p.msg.kind === 'gridReadout')!.msg as Extract<FromWorker, { kind: 'gridReadout' }>;
    expect(out.precision).toBeNull();
    expect(out.prNote).toMatch(/no reference features/);
    expect(out.pixelL2).toHaveLength(2);
  });

  it('a diversity run has no trade-off fields', async () => {
    const rec = recorder();
    const readouts: number[] = [];
    const div = buildRequest(params({ view: 'diversity', diversitySeeds: 2 }), fakeManifest()).grid!;
    await createRunner({ post: rec.post, yieldToEvents: macrotask, now: () => 0 }).generate(1, gen(div), toyModel(null, readouts));
    expect(readouts).toEqual([4]);
    const out = rec.posted.find((p) => p.msg.kind === 'gridReadout')!.msg;
    expect('precision' in out || 'prNote' in out).toBe(false);
    expect(rec.posted.some((p) => p.msg.kind === 'gridFrame' && 'groupLogp' in p.msg)).toBe(false);
  });
});

describe('rows, chart and export', () => {
  const layout = tradeoffLayout(params({ tradeoffScales: [0, 4], tradeoffSeeds: 4 }), both);
  const live: GridRunInfo = { runId: 1, layout, step: 2, logp: null, pixelDiversity: [0.5, 0.3], groupLogp: [-2, -0.5], readout: null };

  it('live numbers while running, the final read-out after', () => {
    expect(tradeoffRows(live)).toEqual([
      { title: 'scale 0', fidelity: -2, diversity: 0.5, classifierL2: null, precision: null, recall: null },
      { title: 'scale 4', fidelity: -0.5, diversity: 0.3, classifierL2: null, precision: null, recall: null },
    ]);
    const done = { ...live, readout: { pixelL2: [0.4, 0.2], classifierL2: [0.3, 0.1], logp: [-1, -1, -2, -2, 0, 0, -1, -1], precision: [0.5, 0.75], recall: [1, 0.25], prNote: null } };
    expect(tradeoffRows(done)[0]).toEqual({ title: 'scale 0', fidelity: -1.5, diversity: 0.4, classifierL2: 0.3, precision: 0.5, recall: 1 });
    expect(tradeoffRows(done)[1].fidelity).toBe(-0.5);
    expect(tradeoffRows(undefined)).toEqual([]);
  });

  it('three panels; higher values plot higher; precision and recall on [0, 1] or a message', () => {
    const rows = tradeoffRows({ ...live, readout: { pixelL2: [0.4, 0.2], classifierL2: null, logp: null, precision: [0.5, 1], recall: [1, 0], prNote: null } });
    const panels = planChart(rows, 600, 200, 'unused');
    expect(panels.map((p) => p.title)).toEqual(['Fidelity: mean log p(class | x̂₀)', 'Diversity: pixel L2 (RMS)', 'Precision and recall']);
    const [fid, div, pr] = panels;
    expect(fid.series[0].points[1].y).toBeLessThan(fid.series[0].points[0].y); // -0.5 above -2
    expect(div.series[0].points[1].y).toBeGreaterThan(div.series[0].points[0].y);
    expect(pr.series.map((s) => s.name)).toEqual(['precision', 'recall']);
    expect(pr.series[0].points[1].y).toBeCloseTo(pr.box.y, 6); // precision 1 at the top
    expect(pr.series[1].points[1].y).toBeCloseTo(pr.box.y + pr.box.h, 6); // recall 0 at the bottom
    expect(pr.xLabels.map((l) => l.label)).toEqual(['0', '4']);
    const none = planChart(tradeoffRows(live), 600, 200, 'no reference features');
    expect(none[2].message).toBe('no reference features');
    expect(none[2].series).toEqual([]);
    expect(chartLabel(rows, null)).toMatch(/with precision and recall$/);
    expect(chartLabel(tradeoffRows(live), 'the pack has none')).toMatch(/no precision and recall: the pack has none$/);
  });

  it('Save PNG puts the chart under the grid', () => {
    const plain = planExport(layout, 64, 'h');
    const withChart = planExport(layout, 64, 'h', [], { width: 720, height: 190 });
    expect(plain.figure).toBeNull();
    expect(withChart.figure).toEqual({ x: 12, y: plain.height, width: 720, height: 190 });
    expect(withChart.height).toBe(plain.height + 190 + 12);
    expect(withChart.width).toBe(Math.max(plain.width, 744));
  });

  it('routes the live fidelity and the read-out into the store', () => {
    const store = createAppStore();
    const send = (m: FromWorker) => routeMessage(store, createFrameBus(), m, createLiveBuses());
    const request = buildRequest(params({ tradeoffScales: [0, 4], tradeoffSeeds: 4 }), fakeManifest());
    store.setState({ runId: 3, runState: 'running', runParams: request });
    store.getState().gridRunStarted(3, layout);
    send({ kind: 'gridFrame', runId: 3, step: 1, numSteps: 2, timestep: 5, width: 1, height: 1, cells: 8, rgba: new ArrayBuffer(32), logp: null, pixelDiversity: [0.5, 0.4], groupLogp: [-2, -1] });
    expect(store.getState().gridRuns.tradeoff?.groupLogp).toEqual([-2, -1]);
    send({ kind: 'gridReadout', runId: 3, pixelL2: [0.5, 0.4], classifierL2: null, logp: null, precision: [0.5, 0.25], recall: [0.75, 0.5], prNote: null });
    expect(store.getState().gridRuns.tradeoff?.readout).toMatchObject({ precision: [0.5, 0.25], recall: [0.75, 0.5], prNote: null });
  });
});
