// Loads one pack end to end: EP choice, manifest, model bytes (cached, checked), sessions, warm-up.
import type { GraphFile, PackManifest } from '../shared/manifest';
import type { EpChoice, EpInfo, FromWorker } from '../shared/protocol';
import { decideEp, probeAdapter } from './capabilities';
import { gpuOf } from './gpu';
import { loadManifest } from './manifestLoader';
import { loadGraphBytes, openPackCache } from './packFiles';
import { checkPackUrl } from './packUrl';
import { createModelSessions, type ModelSessions } from './sessions';
import type { SerialQueue } from './serialQueue';

export interface LoadedPack {
  manifest: PackManifest;
  sessions: ModelSessions;
  epInfo: EpInfo;
  warmupMs: number;
}

export interface LoadRequest {
  loadId: number;
  packUrl: string;
  ep: EpChoice;
}

const PROGRESS_INTERVAL_MS = 100;

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
  signal?: AbortSignal,
): Promise<LoadedPack | null> {
  // Packs come from this app's own origin only (every file URL is checked again in packFileUrl).
  checkPackUrl(req.packUrl, self.location.href);
  const decision = decideEp(req.ep, await probeAdapter(gpuOf(navigator)));
  const manifest = await loadManifest(fetch, req.packUrl, signal);
  if (!isCurrent()) return null;
  const fp16 = decision.ep === 'webgpu' && decision.shaderF16 && manifest.unetFp16 !== undefined;
  const unetGraph = fp16 && manifest.unetFp16 ? manifest.unetFp16 : manifest.unet;
  const graphs: GraphFile[] = manifest.classifierGrad ? [unetGraph, manifest.classifierGrad] : [unetGraph];

  const total = graphs.reduce((s, g) => s + g.bytes, 0);
  let before = 0;
  let lastPost = -Infinity;
  const source = { fetchFn: fetch, cache: await openPackCache() };
  const bytes: Uint8Array[] = [];
  for (const g of graphs) {
    bytes.push(
      await loadGraphBytes(source, req.packUrl, g, (loaded, _fileTotal, fromCache) => {
        const now = performance.now();
        if (now - lastPost < PROGRESS_INTERVAL_MS && loaded < g.bytes) return; // throttle, keep the last
        lastPost = now;
        post({ kind: 'progress', loadId: req.loadId, file: g.file, loaded: before + loaded, total, fromCache });
      }, signal),
    );
    before += g.bytes;
    if (!isCurrent()) return null;
  }

  const files = graphs.map((g, i) => ({ name: g.file, bytes: bytes[i] }));
  const sessions = await createModelSessions(manifest, files[0], files[1] ?? null, decision.ep, queue);
  if (!isCurrent()) {
    await sessions.release();
    return null;
  }
  const warmupMs = await warmUp(manifest, sessions);
  const epInfo: EpInfo = { ep: decision.ep, reason: decision.reason, adapter: decision.adapter, fp16, wasmThreads };
  return { manifest, sessions, epInfo, warmupMs };
}

/** One call of each graph, so shader compilation and kernel set-up are not charged to the first step. */
async function warmUp(m: PackManifest, s: ModelSessions): Promise<number> {
  const t0 = performance.now();
  const shape = [1, 3, m.imageSize, m.imageSize] as const;
  const x = new Float32Array(3 * m.imageSize * m.imageSize);
  const t = Float32Array.of(m.diffusion.diffusionSteps - 1);
  const y = Int32Array.of(0);
  await s.denoise(x, t, m.classCond ? y : null, shape);
  await s.classifierGrad?.(x, t, y, shape);
  return performance.now() - t0;
}
