// Loads one pack end to end: EP choice, manifest (network, or the stored copy offline), graph
// choice, model bytes (stored in OPFS and checked, resumable), sessions, warm-up; and the time
// each phase took.
import type { GraphFile, PackManifest } from '../shared/manifest';
import { parseManifest } from '../shared/manifestCheck';
import type { EpChoice, EpInfo, FromWorker, LoadTimings, StorageEstimateInfo } from '../shared/protocol';
import { decideEp, probeAdapter } from './runtime/capabilities';
import { gpuOf } from './runtime/gpu';
import { chooseGraphs, graphParts } from './runtime/graphChoice';
import { isImportedPackUrl } from './import/importPack';
import { loadManifestOrStored, type LoadedManifest } from './storage/manifestLoader';
import { startGraphFromStore, warmHashing, type LoadClock } from './storage/graphFromStore';
import { loadGraphBytes, type CacheLike } from './storage/packCache';
import type { PackStore } from './storage/packStore';
import { checkPackUrl } from './storage/packUrl';
import { checkRoom } from './storage/quota';
import { createModelSessions, createUpsamplerSession, type GradientApart, type GraphBytes, type ModelSessions, type UpsamplerSession } from './runtime/sessions';
import { browserGradientWorker } from './runtime/gradientClient';
import { setWasmEpThreads } from './runtime/ortRuntime';
import { startRuntimeOnce } from './runtime/startUp';
import { gradientApart } from './runtime/threadSplit';
import { warmUp } from './runtime/warmUp';
import type { SerialQueue } from './runtime/serialQueue';
import { referenceFromBytes, type ReferenceFeatureSet } from './run/tradeoff';
import { describeTimings, loadProgress } from './loadReport';

export interface LoadedPack {
  manifest: PackManifest;
  sessions: ModelSessions;
  /** The cascade's second stage (manifest `upsampler`); null when the pack has none. */
  upsampler: UpsamplerSession | null;
  /** The classifier's features of real images (manifest `referenceFeatures`); null when the pack has none. */
  reference: ReferenceFeatureSet | null;
  epInfo: EpInfo;
  warmupMs: number;
  timings: LoadTimings;
}

export interface LoadRequest {
  loadId: number;
  packUrl: string;
  ep: EpChoice;
  /** false: prefer the fp32 U-Net where both exist (`?fp16=0`). */
  fp16?: boolean;
}

/** Where model files are kept: the OPFS pack store, else the Cache API, else nowhere. */
export interface LoadStorage {
  store: PackStore | null;
  cache: CacheLike | null;
  /** The page's StorageManager.estimate() (asked only when something is about to be stored). */
  estimate: () => Promise<StorageEstimateInfo | null>;
}

/**
 * Resolves null when a newer load made this one obsolete (its sessions are already released).
 * `signal` aborts the downloads in flight (the worker aborts it when another pack is picked).
 */
export async function loadPack(
  req: LoadRequest,
  wasmThreads: number,
  queue: SerialQueue,
  post: (msg: FromWorker) => void,
  isCurrent: () => boolean,
  signal: AbortSignal | undefined,
  storage: LoadStorage,
): Promise<LoadedPack | null> {
  const t0 = performance.now();
  const { store, cache } = storage;
  const timings: LoadTimings = {
    manifestMs: 0, filesMs: 0, fetchMs: 0, hashMs: 0, hashThreadMs: 0, storeMs: 0, readMs: 0, runtimeMs: 0, sessionMs: 0, warmupMs: 0, totalMs: 0,
    fetchedBytes: 0, readBytes: 0, manifestFrom: 'network', storage: store ? 'opfs' : cache ? 'cache' : 'none',
  };
  // Packs come from this app's own origin only (every file URL is checked again in packFileUrl).
  checkPackUrl(req.packUrl, self.location.href);
  const decision = decideEp(req.ep, await probeAdapter(gpuOf(navigator)));
  // wasm where the U-Net keeps its threads (threadSplit.ts): the gradient graph in a worker and ORT
  // instance of its own, the threads split between the two (set before this worker's wasm build starts).
  const split = gradientApart(decision.ep, wasmThreads, navigator.hardwareConcurrency || 1, typeof Worker !== 'undefined');
  if (split) setWasmEpThreads(split.unet);
  // ORT's start-up runs while the manifest and the model files arrive (once per worker and EP).
  const runtime = startRuntimeOnce(decision.ep);
  let t = performance.now();
  const stored = async () => (store ? ((await store.getRecord(req.packUrl))?.manifest ?? null) : null);
  const imported = isImportedPackUrl(req.packUrl);
  const { manifest, from } = imported ? await storedOnly(stored, req.packUrl) : await loadManifestOrStored(fetch, req.packUrl, stored, signal);
  timings.manifestMs = performance.now() - t;
  timings.manifestFrom = from;
  if (!isCurrent()) return null;
  // Refused here, before any download, when the EP can run none of the files.
  const choice = chooseGraphs(manifest, decision.ep, decision.shaderF16, req.fp16 !== false, split !== null);
  const graphs = choice.classifierGrad ? [choice.unet, choice.classifierGrad] : [choice.unet];
  // Every file to load: each graph's .onnx file and its external-data files (each once); the upsampler's too,
  // and the reference features when the classifier that reads them is loaded.
  const upGraph = choice.upsampler;
  const refSpec = choice.classifierGrad ? manifest.referenceFeatures : undefined;
  const parts = [...new Map([...[...graphs, ...(upGraph ? [upGraph] : [])].flatMap(graphParts), ...(refSpec ? [refSpec] : [])].map((f) => [f.sha256, f])).values()];
  const total = parts.reduce((s, f) => s + f.bytes, 0);

  let toFetch = total;
  if (store) {
    // Before any byte of a model file is fetched: refuse what would not fit.
    toFetch = await checkRoom(store, parts, storage.estimate);
    if (!isCurrent()) return null;
    if (imported && toFetch > 0) throw new Error(`${manifest.title}: part of this pack is no longer stored in this browser; open its checkpoint files again`);
    if (toFetch > 0) warmHashing(); // the hashing thread starts while the record is written
    await store.putRecord(req.packUrl, manifest, parts);
  }

  const progress = loadProgress(post, req.loadId, total, toFetch);
  const clock: LoadClock = (phase, ms) => void (timings[`${phase}Ms`] += ms);

  /** By sha256: the bytes of every part, and whether they came from an earlier visit. */
  const files = new Map<string, { bytes: Uint8Array; fromStore: boolean }>();
  /**
   * The digests of downloaded files, which the hashing thread may still be computing: the sessions
   * are created meanwhile (ONNX Runtime parses the bytes in its sandbox), and nothing runs on them
   * before every digest matched.
   */
  const checks: Promise<void>[] = [];
  const tFiles = performance.now();
  for (const f of parts) {
    if (store) {
      const r = await startGraphFromStore(store, fetch, req.packUrl, f, (loaded, _total, fromStore, resumedAt) => progress.report(f.file, f.bytes, loaded, fromStore, resumedAt), clock, signal);
      checks.push(r.verified);
      files.set(f.sha256, { bytes: r.bytes, fromStore: r.fromStore });
      timings.fetchedBytes += r.fetchedBytes;
      timings.readBytes += r.readBytes;
    } else {
      t = performance.now();
      const bytes = await loadGraphBytes({ fetchFn: fetch, cache }, req.packUrl, f, (loaded, _fileTotal, fromCache) => progress.report(f.file, f.bytes, loaded, fromCache, 0), signal);
      timings.fetchMs += performance.now() - t; // download + hash (one-shot WebCrypto) + Cache API
      files.set(f.sha256, { bytes, fromStore: false });
    }
    progress.fileDone(f.bytes);
    if (!isCurrent()) return null;
  }
  timings.filesMs = performance.now() - tFiles;
  const bytesOf = (g: GraphFile): GraphBytes => ({
    name: g.file,
    bytes: files.get(g.sha256)!.bytes,
    // ORT resolves the graph's initializers from these (path = the name the graph records).
    ...(g.externalData?.length ? { externalData: g.externalData.map((e) => ({ path: e.file, data: files.get(e.sha256)!.bytes })) } : {}),
  });

  const reference = refSpec ? referenceFromBytes(files.get(refSpec.sha256)!.bytes, refSpec.shape) : null;
  post({ kind: 'loadStage', loadId: req.loadId, stage: 'sessions' });
  timings.runtimeMs = (await runtime) ?? 0;
  t = performance.now();
  let sessions: ModelSessions;
  let upsampler: UpsamplerSession | null;
  try {
    // ORT copies each buffer into its WebAssembly heap and frees that copy once the session exists.
    const apart: GradientApart | null = split && { spawn: browserGradientWorker, threads: split.gradient, required: choice.gradientApartRequired };
    sessions = await createModelSessions(manifest, bytesOf(graphs[0]), graphs[1] ? bytesOf(graphs[1]) : null, decision.ep, queue, apart);
    try {
      upsampler = upGraph ? await createUpsamplerSession(upGraph, bytesOf(upGraph), decision.ep, queue) : null;
    } catch (e) {
      await sessions.release();
      throw e;
    }
  } catch (e) {
    // A downloaded file that is not what the manifest pins explains the failure better.
    const wrong = (await Promise.allSettled(checks)).find((c) => c.status === 'rejected');
    if (wrong) throw wrong.reason;
    // A stored copy ORT cannot read (damaged on disk?) must not fail every later visit too.
    const stale = [...files].filter(([, f]) => f.fromStore).map(([sha]) => sha);
    if (store && stale.length > 0) {
      for (const sha of stale) await store.removeFile(sha).catch(() => {});
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`${msg} (the stored copy was deleted: loading the pack again downloads it anew)`, { cause: e });
    }
    throw e;
  }
  timings.sessionMs = performance.now() - t;
  files.clear(); // the model bytes are in ORT now: let the buffers go before the warm-up
  t = performance.now();
  try {
    await Promise.all(checks);
  } catch (e) {
    await sessions.release();
    await upsampler?.release();
    throw e;
  }
  timings.hashMs += performance.now() - t;
  if (!isCurrent()) {
    await sessions.release();
    await upsampler?.release();
    return null;
  }
  post({ kind: 'loadStage', loadId: req.loadId, stage: 'warmup' });
  const warmupMs = await warmUp(manifest, sessions, upsampler, decision.ep);
  timings.warmupMs = warmupMs;
  timings.totalMs = performance.now() - t0;
  console.info(`[pack] ${manifest.name} ready on ${decision.ep}: ${describeTimings(timings)}`);
  const fileNote = [choice.note, sessions.gradientNote].filter((n) => n !== null).join('. ') || null;
  const epInfo: EpInfo = { ep: decision.ep, reason: decision.reason, adapter: decision.adapter, fp16: choice.fp16, wasmThreads, fileNote, gpuResidentIo: sessions.gpuResidentIo, gradientWorkerThreads: sessions.gradientWorkerThreads };
  return { manifest, sessions, upsampler, reference, epInfo, warmupMs, timings };
}

/** An imported pack (built here from checkpoint files): its manifest exists only in storage. */
async function storedOnly(stored: () => Promise<unknown>, packUrl: string): Promise<LoadedManifest> {
  const json = await stored();
  if (json === null) throw new Error(`the pack built from checkpoint files (${packUrl}) is no longer stored in this browser; open the files again`);
  return { manifest: parseManifest(json), from: 'storage' };
}
