// The UI side of the cascade: upsample-stage frames paint the larger image, leave the base model's
// charts alone, and the status line names the stage; `up=0` in the URL skips the upsampler.
import { describe, expect, it } from 'vitest';
import { statusText } from '../../../src/ui/components/StatusBar';
import { createFrameBus, type Frame } from '../../../src/ui/frames';
import { buildRequest } from '../../../src/ui/gridRequest';
import { createAppStore } from '../../../src/ui/store/store';
import { parseUrlParams, toSearch } from '../../../src/ui/url';
import { routeMessage } from '../../../src/ui/bridge/route';
import type { EpInfo, FromWorker } from '../../../src/shared/protocol';
import { fakeManifest } from './fakes';

const epInfo: EpInfo = { ep: 'wasm', reason: 'test', adapter: null, fp16: false, wasmThreads: 2 };
const frame = (step: number, numSteps: number, size: number, stage?: 'base' | 'upsample'): FromWorker => ({
  kind: 'frame', runId: 1, ...(stage ? { stage } : {}), step, numSteps, timestep: 0, width: size, height: size,
  rgba: new Uint8ClampedArray(size * size * 4).buffer, logp: stage === 'upsample' ? null : -step, classifierScale: stage === 'upsample' ? 0 : 2, cfgScale: 0,
});

function running() {
  const store = createAppStore();
  const frames = createFrameBus();
  const seen: Frame[] = [];
  frames.subscribe((f) => seen.push(f));
  const send = (m: FromWorker) => routeMessage(store, frames, m);
  store.getState().loadStarted(1);
  send({ kind: 'ready', loadId: 1, manifest: fakeManifest(), epInfo, warmupMs: 0 });
  store.getState().runRequested(1, 2);
  send({ kind: 'started', runId: 1, numSteps: 2, upsampleSteps: 3 });
  return { store, seen, send };
}

describe('cascade in the UI', () => {
  it('follows both stages: frames of both sizes, the base charts kept, the stage in the status', () => {
    const { store, seen, send } = running();
    send(frame(1, 2, 8, 'base'));
    send(frame(2, 2, 8, 'base'));
    expect(statusText(store.getState())).toBe('Generating · step 2 / 2');
    send(frame(1, 3, 16, 'upsample'));
    expect(statusText(store.getState())).toBe('Generating · upsampling step 1 / 3');
    send(frame(2, 3, 16, 'upsample'));
    send(frame(3, 3, 16, 'upsample'));
    const s = store.getState();
    expect([s.step, s.numSteps, s.logp, s.appliedScale]).toEqual([2, 2, [-1, -2], 2]);
    expect(seen.map((f) => f.width)).toEqual([8, 8, 16, 16, 16]);
    send({ kind: 'done', runId: 1, ms: 1500 });
    expect(statusText(store.getState())).toBe('Done in 1.5 s · step 2 / 2 · upsampled in 3 steps');
  });

  it('says where a run stopped in the upsample stage, and a new run starts at the base stage', () => {
    const { store, send } = running();
    send(frame(1, 2, 8));
    send(frame(2, 2, 8));
    send(frame(1, 3, 16, 'upsample'));
    send({ kind: 'cancelled', runId: 1, step: 2, stage: 'upsample', upsampleStep: 1 });
    expect(statusText(store.getState())).toBe('Stopped · upsampling step 1 / 3');
    store.getState().runRequested(2, 2);
    expect(statusText(store.getState())).toBe('Generating · step 0 / 2');
  });

  it('mirrors the checkbox in the URL (up=0) and sends it with the request', () => {
    expect(parseUrlParams('?up=0').values).toEqual({ upsample: false });
    expect(parseUrlParams('?up=1').values).toEqual({ upsample: true });
    expect(parseUrlParams('?up=2').errors).toHaveLength(1);
    const store = createAppStore();
    expect(toSearch(store.getState().params)).not.toContain('up=');
    store.getState().setParam('upsample', false);
    expect(toSearch(store.getState().params)).toContain('up=0');
    expect(buildRequest(store.getState().params, fakeManifest()).upsample).toBe(false);
  });
});
