// The page's side of a checkpoint import: the worker's messages for the newest import only, the built pack
// joining the picker and being picked, and imported packs listed from storage (and dropped when gone).
import { describe, expect, it } from 'vitest';
import type { FromWorker, ImportTimings, StoredPackInfo } from '../../../src/shared/protocol';
import { createFrameBus } from '../../../src/ui/frames';
import { importedPacks } from '../../../src/ui/store/modelSlice';
import { createAppStore } from '../../../src/ui/store/store';
import { routeMessage } from '../../../src/ui/bridge/route';

const timings: ImportTimings = { indexMs: 1, readMs: 2, fillMs: 3, hashMs: 4, hashWaitMs: 4, downloadMs: 0, storeMs: 5, totalMs: 15, weightBytes: 100, largestBuffer: 60 };
const URL_A = 'https://app.test/checkpoint-packs/64x64_diffusion-0123456789ab/';
const stored = (packUrl: string, title = 't'): StoredPackInfo => ({ key: 'k'.repeat(32), packUrl, name: 'n', title, bytes: 1, totalBytes: 1, complete: true });

function setup() {
  const store = createAppStore();
  const send = (m: FromWorker) => routeMessage(store, createFrameBus(), m);
  store.getState().setPacks([{ id: 'imagenette64', title: 'Imagenette', url: 'https://app.test/models/imagenette64/' }], 'imagenette64');
  store.getState().applyDefaults({ packId: 'imagenette64' });
  return { store, send };
}

describe('checkpoint import in the page', () => {
  it('shows what the worker recognised and its progress, then picks the built pack', () => {
    const { store, send } = setup();
    store.getState().importStarted(7, ['a.pt']);
    send({ kind: 'importRecognised', importId: 6, files: [{ name: 'old.pt', slot: 'unet', description: 'old' }] });
    expect(store.getState().recognised).toEqual([]);
    send({ kind: 'importRecognised', importId: 7, files: [{ name: 'a.pt', slot: 'unet', description: 'a.pt: U-Net' }] });
    send({ kind: 'importProgress', importId: 7, phase: 'filling', file: 'a.pt → unet.onnx.data', loaded: 5, total: 10 });
    expect(store.getState()).toMatchObject({ importStatus: 'working', importProgress: { loaded: 5, total: 10 }, recognised: [{ description: 'a.pt: U-Net' }] });
    send({ kind: 'importDone', importId: 7, packUrl: URL_A, name: '64x64_diffusion-0123456789ab', title: 'a.pt (your files)', timings });
    const s = store.getState();
    expect(s.importStatus).toBe('done');
    expect(s.params.packId).toBe('64x64_diffusion-0123456789ab');
    expect(s.packs.map((p) => p.id)).toEqual(['imagenette64', '64x64_diffusion-0123456789ab']);
  });

  it('keeps an error for the newest import only', () => {
    const { store, send } = setup();
    store.getState().importStarted(3, ['x.pt']);
    send({ kind: 'importError', importId: 2, message: 'old' });
    expect(store.getState().importStatus).toBe('working');
    send({ kind: 'importError', importId: 3, message: 'refusing x.pt: its pickle references os.system' });
    expect(store.getState()).toMatchObject({ importStatus: 'error', importError: 'refusing x.pt: its pickle references os.system' });
  });

  it('lists imported packs from storage beside the index packs, and falls back when a linked one is gone', () => {
    expect(importedPacks([stored('https://app.test/models/tiny16/'), stored(URL_A, 'A')])).toEqual([
      { id: '64x64_diffusion-0123456789ab', title: 'A', url: URL_A, imported: true },
    ]);
    const { store } = setup();
    store.getState().setStored({ packs: [stored(URL_A, 'A')], available: true, error: null });
    expect(store.getState().packs.map((p) => p.id)).toEqual(['imagenette64', '64x64_diffusion-0123456789ab']);
    store.getState().setParam('packId', '64x64_diffusion-0123456789ab');
    store.getState().setStored({ packs: [], available: true, error: null }); // deleted
    expect(store.getState().packs.map((p) => p.id)).toEqual(['imagenette64']);
    expect(store.getState().params.packId).toBe('imagenette64');
  });
});
