// The UI's only way to the worker: typed requests out, routed messages in. Owns the run and load
// ids, forwards live changes (guidance scales, preview) of a running run, and respawns the worker
// after a crash or GPU device loss.
import type { FromWorker, ToWorker } from '../../shared/protocol';
import { urlFileName } from '../../shared/checkpointUrl';
import type { FrameBus } from '../frames';
import { liveBuses, type LiveBuses } from '../liveFrames';
import { planView } from '../gridRequest';
import { browserStorage, type PageStorage } from '../pageStorage';
import type { AppStore } from '../store/store';
import type { PackEntry } from '../store/modelSlice';
import { routeMessage } from './route';

/** The part of Worker used here, so tests can pass a fake. */
export interface WorkerLike {
  postMessage(msg: ToWorker): void;
  terminate(): void;
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
}

export interface DiffusionClient {
  loadPack(pack: PackEntry): void;
  generate(): void;
  stop(): void;
  /** Asks the worker for the stored packs (the answer also measures storage again). */
  refreshStored(): void;
  deleteStored(key: string): void;
  /** Builds a pack from released checkpoint files (recognised, filled and stored by the worker). */
  /** Builds a pack from opened checkpoint files and/or URLs of such files (src/shared/checkpointUrl.ts). */
  importCheckpoints(files: File[], urls?: string[]): void;
  /** Subscribes to the store; returns the cleanup that also terminates the worker. */
  attach(): () => void;
}

export function createDiffusionClient(
  store: AppStore,
  frames: FrameBus,
  spawn: () => WorkerLike,
  live: LiveBuses = liveBuses,
  storage: PageStorage = browserStorage(),
): DiffusionClient {
  let worker: WorkerLike | null = null;
  let ids = 0; // shared counter: run and load ids never repeat within a page
  let lastPack: PackEntry | null = null;

  function ensureWorker(): WorkerLike {
    if (worker) return worker;
    const w = spawn();
    w.onmessage = (e) => {
      const effect = routeMessage(store, frames, e.data, live);
      if (effect === 'restartWorker') restartOnWasm();
      if (effect === 'estimateStorage' && e.data.kind === 'needStorageEstimate') answerEstimate(w, e.data.loadId);
      // The stored packs changed (a load or a delete): the page's usage numbers did too.
      if (e.data.kind === 'storedPacks') void storage.measure(false).then((estimate) => store.getState().setStorageEstimate(estimate));
    };
    w.onerror = (e) => {
      e.preventDefault?.();
      const s = store.getState();
      s.addNotice('error', `The sampling worker crashed (${e.message || 'unknown error'}); it restarts on the next request.`);
      if (s.runState === 'running') s.runFailed('the sampling worker crashed');
      if (s.packStatus === 'loading' || s.packStatus === 'ready') s.loadFailed('the sampling worker crashed; pick the pack again to reload it');
      kill();
    };
    worker = w;
    return w;
  }

  /** The worker is about to store a download: persist() and estimate() happen here, on the page. */
  function answerEstimate(w: WorkerLike, loadId: number): void {
    void storage.measure(true).then((estimate) => {
      store.getState().setStorageEstimate(estimate);
      if (worker === w) w.postMessage({ kind: 'storageEstimate', loadId, estimate });
    });
  }

  function kill(): void {
    worker?.terminate();
    worker = null;
  }

  function send(msg: ToWorker): void {
    ensureWorker().postMessage(msg);
  }

  function loadPack(pack: PackEntry): void {
    lastPack = pack;
    const loadId = ++ids;
    store.getState().loadStarted(loadId);
    const { ep, fp16 } = store.getState().params;
    send({ kind: 'load', loadId, packUrl: pack.url, ep, fp16 });
  }

  function restartOnWasm(): void {
    kill();
    store.getState().applyDefaults({ ep: 'wasm' });
    if (lastPack) loadPack(lastPack);
  }

  return {
    loadPack,
    generate() {
      const s = store.getState();
      if (s.packStatus !== 'ready') return;
      const runId = ++ids;
      // The current view decides: one image, or a grid of cells sampled as one batch.
      const { request, layout } = planView(s.params, s.manifest);
      s.runRequested(runId, request.steps, request);
      if (layout) s.gridRunStarted(runId, layout);
      send({ kind: 'generate', runId, params: request });
    },
    refreshStored() {
      send({ kind: 'listStored' });
    },
    deleteStored(key) {
      send({ kind: 'deleteStored', key });
    },
    importCheckpoints(files, urls = []) {
      const importId = ++ids;
      store.getState().importStarted(importId, [...files.map((f) => f.name), ...urls.map(urlFileName)]);
      const base = globalThis.document?.baseURI ?? globalThis.location.href;
      send({ kind: 'importCheckpoints', importId, files, urls, templatesUrl: new URL('templates/', base).href, appBase: base });
    },
    stop() {
      const s = store.getState();
      if (s.runState === 'running') send({ kind: 'cancel', runId: s.runId });
    },
    attach() {
      const unsubscribe = store.subscribe((s, prev) => {
        if (s.runState !== 'running' || !worker) return;
        const grid = s.runParams?.grid; // a grid's scales are fixed per cell: the sliders steer a single image
        if (!grid && s.params.classifierScale !== prev.params.classifierScale) {
          worker.postMessage({ kind: 'setScale', runId: s.runId, classifierScale: s.params.classifierScale });
          s.runParamsChanged({ classifierScale: s.params.classifierScale });
        }
        if (!grid && s.params.cfgScale !== prev.params.cfgScale) {
          worker.postMessage({ kind: 'setScale', runId: s.runId, cfgScale: s.params.cfgScale });
          s.runParamsChanged({ cfgScale: s.params.cfgScale });
        }
        if (s.params.previewOf !== prev.params.previewOf) {
          worker.postMessage({ kind: 'setPreview', runId: s.runId, previewOf: s.params.previewOf });
        }
      });
      return () => {
        unsubscribe();
        kill();
      };
    },
  };
}
