// Worker entry: routes protocol messages to the pack loader and the runner. The only
// onnxruntime-web importer chain is main.ts -> packLoad.ts -> sessions.ts.
import { assertNever, type FromWorker, type ToWorker } from '../shared/protocol';
import type { GpuDeviceLike } from './gpu';
import { loadPack, type LoadedPack, type LoadRequest } from './packLoad';
import { createRunner } from './runner';
import { createSerialQueue } from './serialQueue';
import { configureOrt, ortGpuDevice } from './sessions';

declare const self: DedicatedWorkerGlobalScope;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

// Threads need cross-origin isolation (SharedArrayBuffer); ORT's own default is min(4, cores/2).
const wasmThreads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
configureOrt(wasmThreads);

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
  try {
    const loaded = await loadPack(req, wasmThreads, queue, post, () => req.loadId === latestLoad, signal);
    if (!loaded) return;
    pack = loaded;
    post({ kind: 'ready', loadId: req.loadId, manifest: loaded.manifest, epInfo: loaded.epInfo, warmupMs: loaded.warmupMs });
    if (loaded.epInfo.ep === 'webgpu') void watchDevice();
  } catch (e) {
    if (signal.aborted) return; // superseded: the newer load reports instead
    post({ kind: 'loadError', loadId: req.loadId, message: e instanceof Error ? e.message : String(e) });
  }
}

let watchingDevice = false; // ORT keeps one GPUDevice per worker: watch it once, not per load

async function watchDevice(): Promise<void> {
  if (watchingDevice) return;
  watchingDevice = true;
  const device = (await ortGpuDevice()) as GpuDeviceLike;
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
    case 'generate':
      if (!pack) {
        post({ kind: 'error', runId: msg.runId, message: 'no model pack is loaded' });
        return;
      }
      void runner.generate(msg.runId, msg.params, {
        manifest: pack.manifest,
        denoise: pack.sessions.denoise,
        classifierGrad: pack.sessions.classifierGrad,
        classifierLogits: pack.sessions.classifierLogits,
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
