// Classifier-free guidance in the app layer: manifest defaults, URL state, pack adoption, and the
// client forwarding the CFG scale mid-run.
import { describe, expect, it } from 'vitest';
import { createFrameBus } from '../../../src/ui/frames';
import { adoptPack } from '../../../src/ui/packDefaults';
import { createAppStore } from '../../../src/ui/store/store';
import { INITIAL_PARAMS } from '../../../src/ui/store/paramsSlice';
import { parseUrlParams, toSearch } from '../../../src/ui/url';
import { createDiffusionClient } from '../../../src/ui/bridge/client';
import { canUseCfg, modeUses } from '../../../src/shared/manifest';
import { ManifestError, parseManifest } from '../../../src/shared/manifestCheck';
import { DEFAULTS, LIMITS, type FromWorker, type ToWorker } from '../../../src/shared/protocol';
import { FakeWorker, fakeManifest } from './fakes';

type Json = Record<string, unknown>;
const withSampling = (extra: Json, over: Json = {}): Json => {
  const m = JSON.parse(JSON.stringify(fakeManifest())) as Json;
  return { ...m, ...over, sampling: { ...(m.sampling as Json), ...extra } };
};

describe('manifest sampling.guidanceMode / cfgScale', () => {
  it('are optional; given, they are read', () => {
    const plain = parseManifest(withSampling({}));
    expect(plain.sampling.guidanceMode).toBeUndefined();
    expect(plain.sampling.cfgScale).toBeUndefined();
    const m = parseManifest(withSampling({ guidanceMode: 'both', cfgScale: 2.5 }));
    expect(m.sampling).toMatchObject({ guidanceMode: 'both', cfgScale: 2.5 });
  });

  it.each([
    [{ guidanceMode: 'free' }, {}, /manifest\.sampling\.guidanceMode must be "classifier", "cfg" or "both"/],
    [{ cfgScale: 'high' }, {}, /manifest\.sampling\.cfgScale must be a finite number/],
    [{ cfgScale: null }, {}, /manifest\.sampling\.cfgScale must be a finite number/],
    [{ guidanceMode: 'cfg' }, { unconditionalLabel: null }, /guidanceMode must be "classifier" for a pack without unconditionalLabel/],
  ])('refuses %j', (extra, over, message) => {
    expect(() => parseManifest(withSampling(extra, over))).toThrow(ManifestError);
    expect(() => parseManifest(withSampling(extra, over))).toThrow(message);
  });

  it('modeUses and canUseCfg', () => {
    expect(modeUses('classifier')).toEqual({ classifier: true, cfg: false });
    expect(modeUses('cfg')).toEqual({ classifier: false, cfg: true });
    expect(modeUses('both')).toEqual({ classifier: true, cfg: true });
    expect(canUseCfg(fakeManifest())).toBe(true);
    expect(canUseCfg(fakeManifest({ unconditionalLabel: null }))).toBe(false);
    expect(canUseCfg(fakeManifest({ classCond: false }))).toBe(false);
  });

  it('limits and defaults agree', () => {
    expect(DEFAULTS.cfgScale).toBeGreaterThanOrEqual(LIMITS.cfgScale.min);
    expect(DEFAULTS.cfgScale).toBeLessThanOrEqual(LIMITS.cfgScale.max);
    expect(INITIAL_PARAMS).toMatchObject({ guidanceMode: 'classifier', guidanceInterval: null });
  });
});

describe('URL: mode, cfg, gi', () => {
  it('parses a classifier-free link', () => {
    const { values, errors } = parseUrlParams('?class=217&mode=cfg&cfg=3&gi=200,800');
    expect(errors).toEqual([]);
    expect(values).toEqual({ imagenetClass: 217, guidanceMode: 'cfg', cfgScale: 3, guidanceInterval: [200, 800] });
  });

  it.each([
    ['mode=free', /mode=free must be one of classifier, cfg, both/],
    ['cfg=21', /cfg=21 must be a number from 0 to 20/],
    ['cfg=-1', /cfg=-1 must be a number/],
    ['cfg=abc', /cfg=abc must be a number/],
    ['gi=800,200', /gi=800,200 must be two whole timesteps lo,hi/],
    ['gi=1.5,200', /gi=1.5,200 must be two whole timesteps/],
    ['gi=200', /gi=200 must be two whole timesteps/],
    ['gi=0,10000', /gi=0,10000 must be two whole timesteps/],
    ['gi=-1,5', /must be two whole timesteps/],
  ])('drops %s with a notice', (q, message) => {
    const { values, errors } = parseUrlParams(`?${q}`);
    expect(values).toEqual({});
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(errors[0]).toMatch(/using the default instead\.$/);
  });

  it('round-trips through toSearch; the classifier mode writes no guidance keys', () => {
    const p = { ...INITIAL_PARAMS, packId: 'tiny16', guidanceMode: 'both' as const, cfgScale: 1.25, guidanceInterval: [0, 500] as const };
    const search = toSearch(p);
    expect(search).toContain('mode=both');
    expect(search).toContain('cfg=1.25');
    expect(search).toContain('gi=0%2C500');
    expect(parseUrlParams(search).values).toMatchObject({ guidanceMode: 'both', cfgScale: 1.25, guidanceInterval: [0, 500] });
    const plain = toSearch({ ...INITIAL_PARAMS, packId: 'tiny16' });
    expect(plain).not.toMatch(/mode=|cfg=|gi=/);
  });
});

describe('adoptPack: guidance defaults', () => {
  it('takes the pack recommendation unless the URL set the mode or scale', () => {
    const store = createAppStore();
    adoptPack(store, fakeManifest({ sampling: { classifierScale: 2, timestepRespacing: 'ddim10', useDdim: true, guidanceMode: 'cfg', cfgScale: 4.5 } }));
    expect(store.getState().params).toMatchObject({ guidanceMode: 'cfg', cfgScale: 4.5 });
    const linked = createAppStore();
    linked.getState().applyUrl({ guidanceMode: 'both', cfgScale: 1 });
    adoptPack(linked, fakeManifest({ sampling: { classifierScale: 2, timestepRespacing: 'ddim10', useDdim: true, guidanceMode: 'cfg', cfgScale: 4.5 } }));
    expect(linked.getState().params).toMatchObject({ guidanceMode: 'both', cfgScale: 1 });
  });

  it('packs without recommendations: classifier mode and the app default scale', () => {
    const store = createAppStore();
    adoptPack(store, fakeManifest());
    expect(store.getState().params).toMatchObject({ guidanceMode: 'classifier', cfgScale: DEFAULTS.cfgScale });
  });

  it('falls back to classifier guidance with a notice when the pack has no null label', () => {
    const store = createAppStore();
    store.getState().applyUrl({ guidanceMode: 'cfg' });
    adoptPack(store, fakeManifest({ unconditionalLabel: null }));
    expect(store.getState().params.guidanceMode).toBe('classifier');
    expect(store.getState().notices[0].text).toMatch(/cannot use classifier-free guidance/);
  });
});

describe('client: the CFG scale mid-run', () => {

  it('sends the guidance fields with generate and forwards cfgScale changes of a running run', () => {
    const store = createAppStore();
    const worker = new FakeWorker();
    const client = createDiffusionClient(store, createFrameBus(), () => worker);
    client.attach();
    client.loadPack({ id: 'p', title: 'P', url: 'https://x.test/models/p/' });
    const load = worker.sent[0] as Extract<ToWorker, { kind: 'load' }>;
    worker.onmessage?.({
      data: { kind: 'ready', loadId: load.loadId, manifest: fakeManifest(), warmupMs: 1, epInfo: { ep: 'wasm', reason: 'r', adapter: null, fp16: false, wasmThreads: 1 } },
    } as MessageEvent<FromWorker>);
    store.getState().setParam('guidanceMode', 'cfg');
    store.getState().setParam('guidanceInterval', [100, 900]);
    client.generate();
    expect(worker.sent.at(-1)).toMatchObject({ kind: 'generate', params: { guidanceMode: 'cfg', cfgScale: DEFAULTS.cfgScale, guidanceInterval: [100, 900] } });
    const runId = store.getState().runId;
    store.getState().setParam('cfgScale', 6);
    expect(worker.sent.at(-1)).toEqual({ kind: 'setScale', runId, cfgScale: 6 });
  });
});
