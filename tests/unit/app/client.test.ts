import { describe, expect, it } from 'vitest';
import { createFrameBus } from '../../../src/ui/frames';
import { createAppStore } from '../../../src/ui/store/store';
import { createDiffusionClient } from '../../../src/ui/bridge/client';
import type { ToWorker } from '../../../src/shared/protocol';
import { FakeWorker, fakeManifest } from './fakes';


const pack = { id: 'p', title: 'P', url: 'https://x.test/models/p/' };

function setup() {
  const store = createAppStore();
  const workers: FakeWorker[] = [];
  const client = createDiffusionClient(store, createFrameBus(), () => {
    const w = new FakeWorker();
    workers.push(w);
    return w;
  });
  const detach = client.attach();
  const ready = () => {
    client.loadPack(pack);
    const load = workers.at(-1)!.sent.at(-1) as Extract<ToWorker, { kind: 'load' }>;
    workers.at(-1)!.reply({ kind: 'ready', loadId: load.loadId, manifest: fakeManifest(), warmupMs: 1, epInfo: { ep: 'wasm', reason: 'r', adapter: null, fp16: false, wasmThreads: 1 } });
  };
  return { store, client, workers, detach, ready };
}

describe('diffusion client', () => {
  it('loads with the chosen EP, then generates with the current params', () => {
    const { store, client, workers, ready } = setup();
    store.getState().setParam('ep', 'webgpu');
    ready();
    expect(workers[0].sent[0]).toMatchObject({ kind: 'load', packUrl: pack.url, ep: 'webgpu' });
    store.getState().setParam('seed', 99);
    client.generate();
    const gen = workers[0].sent.at(-1)!;
    expect(gen).toMatchObject({ kind: 'generate', params: { seed: 99, imagenetClass: 0, steps: 10 } });
    expect(gen.kind === 'generate' && 'packId' in gen.params).toBe(false);
    expect(store.getState()).toMatchObject({ runState: 'running', runId: gen.kind === 'generate' ? gen.runId : -1 });
  });

  it('does not generate before a pack is ready', () => {
    const { client, workers } = setup();
    client.generate();
    expect(workers).toHaveLength(0);
  });

  it('forwards slider and preview changes only while a run is going, and Stop cancels it', () => {
    const { store, client, workers, ready } = setup();
    ready();
    store.getState().setParam('classifierScale', 5); // idle: nothing to forward
    client.generate();
    const runId = store.getState().runId;
    store.getState().setParam('classifierScale', 6);
    store.getState().setParam('previewOf', 'x');
    client.stop();
    expect(workers[0].sent.slice(-3)).toEqual([
      { kind: 'setScale', runId, classifierScale: 6 },
      { kind: 'setPreview', runId, previewOf: 'x' },
      { kind: 'cancel', runId },
    ]);
    expect(workers[0].sent.filter((m) => m.kind === 'setScale')).toHaveLength(1);
  });

  it('on device loss: a fresh worker reloads the pack on wasm', () => {
    const { store, workers, ready } = setup();
    ready();
    workers[0].reply({ kind: 'deviceLost', message: 'the GPU device was lost (unknown): x' });
    expect(workers[0].terminated).toBe(true);
    expect(workers).toHaveLength(2);
    expect(workers[1].sent[0]).toMatchObject({ kind: 'load', packUrl: pack.url, ep: 'wasm' });
    expect(store.getState().packStatus).toBe('loading');
  });

  it('a crashed worker is reported, and the next load starts a new one', () => {
    const { store, client, workers, ready } = setup();
    ready();
    workers[0].onerror?.({ message: 'out of memory', preventDefault() {} } as ErrorEvent);
    expect(workers[0].terminated).toBe(true);
    expect(store.getState().packStatus).toBe('error');
    expect(store.getState().notices[0].text).toMatch(/worker crashed \(out of memory\)/);
    client.loadPack(pack);
    expect(workers).toHaveLength(2);
  });

  it('detach terminates the worker and stops forwarding', () => {
    const { store, client, workers, detach, ready } = setup();
    ready();
    client.generate();
    detach();
    store.getState().setParam('classifierScale', 1);
    expect(workers[0].terminated).toBe(true);
    expect(workers[0].sent.some((m) => m.kind === 'setScale')).toBe(false);
  });
});
