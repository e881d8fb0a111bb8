import { describe, expect, it } from 'vitest';
import { createFrameBus, type Frame } from '../../../src/ui/frames';
import { createAppStore } from '../../../src/ui/store/store';
import { routeMessage } from '../../../src/ui/bridge/route';
import type { EpInfo, FromWorker } from '../../../src/shared/protocol';
import { fakeManifest } from './fakes';

const epInfo: EpInfo = { ep: 'wasm', reason: 'test', adapter: null, fp16: false, wasmThreads: 2 };
const frame = (runId: number, step: number): FromWorker => ({
  kind: 'frame', runId, step, numSteps: 4, timestep: 999 - step, width: 2, height: 2, rgba: new Uint8ClampedArray(16).fill(step).buffer,
  logp: -step, classifierScale: 1, cfgScale: 0,
});

function setup() {
  const store = createAppStore();
  const frames = createFrameBus();
  const seen: Frame[] = [];
  frames.subscribe((f) => seen.push(f));
  const send = (m: FromWorker) => routeMessage(store, frames, m);
  return { store, frames, seen, send };
}

describe('routeMessage', () => {
  it('follows a load: progress, ready, and adopts the pack defaults', () => {
    const { store, send } = setup();
    store.getState().loadStarted(5);
    send({ kind: 'progress', loadId: 5, file: 'unet.onnx', loaded: 10, total: 20, fromCache: false });
    expect(store.getState().progress).toEqual({ file: 'unet.onnx', loaded: 10, total: 20, fromCache: false });
    send({ kind: 'ready', loadId: 5, manifest: fakeManifest(), epInfo, warmupMs: 3 });
    const s = store.getState();
    expect(s.packStatus).toBe('ready');
    expect(s.params).toMatchObject({ classifierScale: 2, steps: 10, sampler: 'ddim', imagenetClass: 0 });
  });

  it('ignores messages of a stale load', () => {
    const { store, send } = setup();
    store.getState().loadStarted(6);
    send({ kind: 'progress', loadId: 5, file: 'old', loaded: 1, total: 2, fromCache: false });
    send({ kind: 'ready', loadId: 5, manifest: fakeManifest(), epInfo, warmupMs: 3 });
    send({ kind: 'loadError', loadId: 5, message: 'old failure' });
    expect(store.getState()).toMatchObject({ packStatus: 'loading', progress: null, loadError: null });
    send({ kind: 'loadError', loadId: 6, message: 'invalid manifest: x' });
    expect(store.getState()).toMatchObject({ packStatus: 'error', loadError: 'invalid manifest: x' });
  });

  it('draws frames of the current run only, and records log p per step', () => {
    const { store, seen, send } = setup();
    store.getState().runRequested(1, 4);
    send({ kind: 'started', runId: 1, numSteps: 4 });
    send(frame(1, 1));
    store.getState().runRequested(2, 4); // user pressed Generate again
    send(frame(1, 2)); // stale: must not be drawn
    send({ kind: 'done', runId: 1, ms: 5 });
    send(frame(2, 1));
    expect(seen.map((f) => [f.runId, f.step])).toEqual([[1, 1], [2, 1]]);
    expect(store.getState()).toMatchObject({ runId: 2, runState: 'running', step: 1, logp: [-1] });
  });

  it('ends runs on done / cancelled / error of the current run', () => {
    const { store, send } = setup();
    store.getState().runRequested(1, 4);
    send({ kind: 'cancelled', runId: 1, step: 2 });
    expect(store.getState()).toMatchObject({ runState: 'cancelled', step: 2 });
    store.getState().runRequested(2, 4);
    send({ kind: 'error', runId: 2, message: 'boom' });
    expect(store.getState()).toMatchObject({ runState: 'error', runError: 'boom' });
    send(frame(2, 3)); // a late frame after the error is not drawn
    expect(store.getState().step).toBe(0);
  });

  it('asks for a worker restart on device loss and tells the user', () => {
    const { store, send } = setup();
    store.getState().runRequested(1, 4);
    expect(send({ kind: 'deviceLost', message: 'the GPU device was lost (unknown): gone' })).toBe('restartWorker');
    expect(store.getState().runState).toBe('error');
    expect(store.getState().notices[0].text).toMatch(/^The GPU device was lost .* Reloading the pack on WebAssembly/);
  });
});
