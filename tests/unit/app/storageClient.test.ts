// The page's side of storage: the worker asks for StorageManager numbers before storing a download
// and the client answers (persist() asked then); stored-pack lists reach the store; the Cached packs
// requests go out.
import { describe, expect, it } from 'vitest';
import { createFrameBus } from '../../../src/ui/frames';
import { liveBuses } from '../../../src/ui/liveFrames';
import type { PageStorage } from '../../../src/ui/pageStorage';
import { createAppStore } from '../../../src/ui/store/store';
import { createDiffusionClient } from '../../../src/ui/bridge/client';
import type { StorageEstimateInfo, ToWorker } from '../../../src/shared/protocol';
import { FakeWorker } from './fakes';


function setup() {
  const store = createAppStore();
  const workers: FakeWorker[] = [];
  const calls: boolean[] = [];
  const estimate: StorageEstimateInfo = { usage: 5e6, quota: 1e9, persisted: true };
  const storage: PageStorage = {
    measure: async (askPersist) => {
      calls.push(askPersist);
      return estimate;
    },
  };
  const client = createDiffusionClient(store, createFrameBus(), () => {
    const w = new FakeWorker();
    workers.push(w);
    return w;
  }, liveBuses, storage);
  return { store, client, workers, calls, estimate };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('storage in the client', () => {
  it('answers needStorageEstimate with the page numbers, asking persist() there', async () => {
    const { store, client, workers, calls, estimate } = setup();
    client.loadPack({ id: 'p', title: 'P', url: 'https://x.test/models/p/' });
    const w = workers[0];
    const loadId = (w.sent[0] as Extract<ToWorker, { kind: 'load' }>).loadId;
    w.reply({ kind: 'needStorageEstimate', loadId });
    await flush();
    expect(calls).toEqual([true]);
    expect(w.sent.at(-1)).toEqual({ kind: 'storageEstimate', loadId, estimate });
    expect(store.getState().storageEstimate).toEqual(estimate);
  });

  it('stored-pack lists reach the store and measure usage again; refresh and delete go to the worker', async () => {
    const { store, client, workers, calls } = setup();
    client.refreshStored();
    const w = workers[0];
    expect(w.sent).toEqual([{ kind: 'listStored' }]);
    const packs = [{ key: 'k'.repeat(32), packUrl: 'u', name: 'p', title: 'P', bytes: 10, totalBytes: 20, complete: false }];
    w.reply({ kind: 'storedPacks', packs, available: true, error: null });
    expect(store.getState().stored).toEqual({ packs, available: true, error: null });
    await flush();
    expect(calls).toEqual([false]);
    client.deleteStored('k'.repeat(32));
    expect(w.sent.at(-1)).toEqual({ kind: 'deleteStored', key: 'k'.repeat(32) });
  });

  it('load progress, stages and timings reach the store', () => {
    const { store, client, workers } = setup();
    client.loadPack({ id: 'p', title: 'P', url: 'https://x.test/models/p/' });
    const w = workers[0];
    const loadId = (w.sent[0] as Extract<ToWorker, { kind: 'load' }>).loadId;
    w.reply({ kind: 'progress', loadId, file: 'unet.onnx', loaded: 10, total: 100, fromCache: false, bytesPerSec: 5, etaSec: 18, resumedAt: 4 });
    expect(store.getState().progress).toEqual({ file: 'unet.onnx', loaded: 10, total: 100, fromCache: false, bytesPerSec: 5, etaSec: 18, resumedAt: 4 });
    w.reply({ kind: 'loadStage', loadId: loadId + 100, stage: 'sessions' });
    expect(store.getState().loadStage).toBeNull(); // stale load
    w.reply({ kind: 'loadStage', loadId, stage: 'warmup' });
    expect(store.getState().loadStage).toBe('warmup');
  });
});
