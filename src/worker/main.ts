// Worker entry: routes protocol messages to the pack loader and the runner.
// onnxruntime-web is reached through main.ts -> packLoad.ts -> runtime/sessions.ts, and in the nested
// classifier-gradient worker (runtime/gradientWorker.ts, wasm with 2+ cores).
import { assertNever, type FromWorker, type StorageEstimateInfo, type ToWorker } from '../shared/protocol';
import { errorText } from './storage/download';
import { runImport } from './import/importJob';
import type { GpuDeviceLike } from './runtime/gpu';
import { openOpfsRoot } from './storage/opfs';
import { CACHE_NAME, openPackCache } from './storage/packCache';
import { loadPack, type LoadedPack, type LoadRequest, type LoadStorage } from './packLoad';
import { PackStore } from './storage/packStore';
import { estimateHere } from './storage/quota';
import { createRunner } from './run/runner';
import { createSerialQueue } from './runtime/serialQueue';
import { wasmThreadCount } from './runtime/ortRuntime';
import { ortGpuDevice } from './runtime/sessions';

declare const self: DedicatedWorkerGlobalScope;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

// What every ORT build this worker loads runs its wasm kernels on (reported with each load).
const wasmThreads = wasmThreadCount();

// A MessageChannel task is a macrotask without setTimeout's 4 ms clamp for nested timers.
const tick = new MessageChannel();
const ticks: (() => void)[] = [];
tick.port1.onmessage = () => ticks.shift()?.();
const yieldToEvents = () =>
  new Promise<void>((resolve) => {
    ticks.push(resolve);
    tick.port2.postMessage(null);
  });

const queue = createSerialQueue();
const runner = createRunner({
  post,
  yieldToEvents,
  now: () => performance.now(),
});
// Model files go to the Origin Private File System when there is one (with synchronous access
// handles), else to the Cache API as before. With OPFS, the old Cache API copies only take space.
const rootReady = openOpfsRoot();
const storeReady: Promise<PackStore | null> = rootReady
  .then((root) => (root ? PackStore.open(root) : null))
  .catch(() => null);
void storeReady.then((store) => (store && typeof caches !== 'undefined' ? caches.delete(CACHE_NAME) : false)).catch(() => {});

// The page measures storage (StorageManager.estimate(), and persist(), which only the page has):
// asked right before a download is stored, answered with `storageEstimate`.
const ESTIMATE_WAIT_MS = 5000;
const estimateWaiters = new Map<number, (e: StorageEstimateInfo | null) => void>();
function askEstimate(loadId: number): Promise<StorageEstimateInfo | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      // No answer (an older page?): measure here, without persist().
      estimateWaiters.delete(loadId);
      void estimateHere().then(resolve);
    }, ESTIMATE_WAIT_MS);
    estimateWaiters.set(loadId, (e) => {
      clearTimeout(timer);
      estimateWaiters.delete(loadId);
      resolve(e);
    });
    post({ kind: 'needStorageEstimate', loadId });
  });
}

async function postStored(error: string | null = null): Promise<void> {
  const store = await storeReady;
  if (!store) {
    post({ kind: 'storedPacks', packs: [], available: false, error });
    return;
  }
  try {
    post({ kind: 'storedPacks', packs: await store.list(), available: true, error });
  } catch (e) {
    post({ kind: 'storedPacks', packs: [], available: true, error: error ?? `could not list the stored packs (${errorText(e)})` });
  }
}

async function deleteStored(key: string): Promise<void> {
  const store = await storeReady;
  let error: string | null = null;
  try {
    if (!store) throw new Error('this browser has no pack storage (OPFS)');
    await store.deletePack(key);
  } catch (e) {
    error = `Could not delete the stored pack: ${errorText(e)}`;
  }
  await postStored(error);
}

let pack: LoadedPack | null = null;
let latestLoad = -1;
let loads: Promise<void> = Promise.resolve();
/** Aborts the downloads of the newest load when another pack is picked. */
let loadAbort: AbortController | null = null;

async function load(req: LoadRequest, signal: AbortSignal): Promise<void> {
  if (req.loadId !== latestLoad) return;
  await runner.stopAll();
  if (req.loadId !== latestLoad) return;
  const old = pack;
  pack = null;
  await old?.sessions.release();
  await old?.upsampler?.release();
  const store = await storeReady;
  const storage: LoadStorage = { store, cache: store ? null : await openPackCache(), estimate: () => askEstimate(req.loadId) };
  // While this load runs no tab can delete the pack; a file another tab is storing is waited for.
  const releasePack = store ? await store.holdForLoad(req.packUrl) : null;
  if (store) store.onWaitForOtherTab = (file) => post({ kind: 'loadStage', loadId: req.loadId, stage: 'waiting', file });
  try {
    const loaded = await loadPack(req, wasmThreads, queue, post, () => req.loadId === latestLoad, signal, storage);
    if (!loaded) return;
    pack = loaded;
    post({ kind: 'ready', loadId: req.loadId, manifest: loaded.manifest, epInfo: loaded.epInfo, warmupMs: loaded.warmupMs, timings: loaded.timings });
    if (loaded.epInfo.ep === 'webgpu') void watchDevice();
  } catch (e) {
    if (signal.aborted) return; // superseded: the newer load reports instead
    post({ kind: 'loadError', loadId: req.loadId, message: e instanceof Error ? e.message : String(e) });
  } finally {
    releasePack?.();
    if (!signal.aborted) void postStored(); // the Cached packs list follows every load
  }
}

let watchingDevice = false; // ORT keeps one GPUDevice per worker: watch it once, not per load

async function watchDevice(): Promise<void> {
  if (watchingDevice) return;
  watchingDevice = true;
  const device = (await ortGpuDevice()) as GpuDeviceLike | undefined;
  if (!device) {
    watchingDevice = false; // no WebGPU session yet: the next WebGPU load watches
    return;
  }
  const info = await device.lost;
  pack = null;
  post({ kind: 'deviceLost', message: `the GPU device was lost (${info.reason || 'unknown'}): ${info.message}` });
}

function handle(msg: ToWorker): void {
  switch (msg.kind) {
    case 'load': {
      // Loads are chained so two never create sessions at once; a newer one makes older ones bail,
      // and aborting the older one's downloads lets it bail now rather than after its current file.
      latestLoad = msg.loadId;
      loadAbort?.abort(new DOMException('another model pack was picked', 'AbortError'));
      const controller = new AbortController();
      loadAbort = controller;
      loads = loads.then(() => load(msg, controller.signal));
      return;
    }
    case 'storageEstimate':
      estimateWaiters.get(msg.loadId)?.(msg.estimate);
      return;
    case 'importCheckpoints':
      // One import at a time, and never while a load writes the store's records.
      loads = loads.then(async () => {
        await runImport(msg, await storeReady, await rootReady, post);
        await postStored();
      });
      return;
    case 'listStored':
      void postStored();
      return;
    case 'deleteStored':
      void deleteStored(msg.key);
      return;
    case 'generate':
      if (!pack) {
        post({ kind: 'error', runId: msg.runId, message: 'no model pack is loaded' });
        return;
      }
      void runner.generate(msg.runId, msg.params, {
        manifest: pack.manifest,
        denoise: pack.sessions.denoise,
        classifierGrad: pack.sessions.classifierGrad,
        classifierReadout: pack.sessions.classifierReadout,
        reference: pack.reference,
        upsampler: pack.upsampler,
        fp16Unet: pack.epInfo.fp16,
      });
      return;
    case 'setScale':
      runner.setScale(msg.runId, msg.classifierScale, msg.cfgScale);
      return;
    case 'setPreview':
      runner.setPreview(msg.runId, msg.previewOf);
      return;
    case 'cancel':
      runner.cancel(msg.runId);
      return;
    default:
      assertNever(msg);
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => handle(e.data);
