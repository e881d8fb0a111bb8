// Save PNG names the image on the canvas after the run that painted it (issue 13), not after the
// controls, which may have moved on (new seed, class, scale) since the run finished.
import { describe, expect, it } from 'vitest';
import { createFrameBus } from '../../../src/ui/frames';
import { pngFileName } from '../../../src/ui/pngName';
import { createAppStore } from '../../../src/ui/store/store';
import { createDiffusionClient, type WorkerLike } from '../../../src/ui/bridge/client';
import type { FromWorker, GenerateParams, ToWorker } from '../../../src/shared/protocol';
import { fakeManifest } from './fakes';

function setup() {
  const store = createAppStore();
  const frames = createFrameBus();
  const sent: ToWorker[] = [];
  const worker: WorkerLike = {
    postMessage: (m) => void sent.push(m),
    terminate: () => {},
    onmessage: null,
    onerror: null,
  };
  const client = createDiffusionClient(store, frames, () => worker);
  client.attach();
  const reply = (msg: FromWorker) => worker.onmessage?.({ data: msg } as MessageEvent<FromWorker>);
  client.loadPack({ id: 'p', title: 'P', url: 'https://x.test/models/p/' });
  const load = sent.at(-1) as Extract<ToWorker, { kind: 'load' }>;
  reply({ kind: 'ready', loadId: load.loadId, manifest: fakeManifest(), warmupMs: 1, epInfo: { ep: 'wasm', reason: 'r', adapter: null, fp16: false, wasmThreads: 1 } });
  const frame = (runId: number, step: number) =>
    reply({
      kind: 'frame', runId, step, numSteps: 2, timestep: 0, width: 1, height: 1, rgba: new Uint8ClampedArray(4).buffer,
      logp: null, classifierScale: 1, cfgScale: 0,
    });
  const lastGenerate = () => sent.filter((m) => m.kind === 'generate').at(-1) as Extract<ToWorker, { kind: 'generate' }>;
  return { store, frames, client, reply, frame, lastGenerate };
}

const base: GenerateParams = {
  imagenetClass: 217, classifierScale: 4, steps: 25, sampler: 'ddim', seed: 7, conditionUnet: true, previewOf: 'predX0',
};

describe('pngFileName', () => {
  it('names class, guidance, sampler, steps and seed', () => {
    expect(pngFileName(base)).toBe('English_springer-s4-ddim25-seed7.png');
    expect(pngFileName({ ...base, guidanceMode: 'cfg', cfgScale: 2.5 })).toBe('English_springer-w2.5-ddim25-seed7.png');
    expect(pngFileName({ ...base, guidanceMode: 'both', cfgScale: 1, sampler: 'ddpm', steps: 50 })).toBe('English_springer-s4-w1-ddpm50-seed7.png');
  });
});

describe('Save PNG names the frame on the canvas after its own run', () => {
  it('changing the controls after the run does not rename the image', () => {
    const { store, frames, client, frame, reply, lastGenerate } = setup();
    const set = store.getState().setParam;
    set('imagenetClass', 217);
    set('seed', 7);
    set('classifierScale', 4);
    set('steps', 2);
    client.generate();
    const { runId } = lastGenerate();
    frame(runId, 1);
    frame(runId, 2);
    reply({ kind: 'done', runId, ms: 5 });
    const expected = pngFileName({ ...lastGenerate().params });
    expect(expected).toBe('English_springer-s4-ddim2-seed7.png');

    // The user moves on: new seed, class, scale and steps, without generating.
    set('seed', 99);
    set('imagenetClass', 482);
    set('classifierScale', 10);
    set('steps', 50);
    expect(frames.latest()?.params && pngFileName(frames.latest()!.params!)).toBe(expected);
  });

  it('a scale changed during the run is the scale the image was finished with', () => {
    const { store, frames, client, frame, lastGenerate } = setup();
    store.getState().setParam('classifierScale', 4);
    client.generate();
    const { runId } = lastGenerate();
    frame(runId, 1);
    store.getState().setParam('classifierScale', 6); // the slider, mid-run: sent to the worker
    frame(runId, 2);
    expect(frames.latest()?.params?.classifierScale).toBe(6);
    expect(frames.latest()?.params?.seed).toBe(lastGenerate().params.seed);
  });
});
