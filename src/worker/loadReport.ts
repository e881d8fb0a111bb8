// What a pack load tells: the progress of its model files to the page, and the time each phase
// took to the console.
import type { FromWorker, LoadTimings } from '../shared/protocol';
import { formatBytes } from '../shared/bytes';
import { RateMeter } from './storage/rate';

const PROGRESS_INTERVAL_MS = 100;

/**
 * Progress of `total` bytes of model files, `toFetch` of them from the network: throttled, with the
 * network speed and the time left for what remains to download. `fileDone` after each file.
 */
export function loadProgress(post: (msg: FromWorker) => void, loadId: number, total: number, toFetch: number) {
  const meter = new RateMeter();
  let netBytes = 0;
  let before = 0;
  let lastPost = -Infinity;
  let lastLoaded = 0;
  const report = (file: string, fileBytes: number, loaded: number, fromCache: boolean, resumedAt: number) => {
    const now = performance.now();
    if (!fromCache) {
      netBytes += Math.max(0, loaded - lastLoaded);
      meter.add(now, netBytes);
    }
    lastLoaded = loaded;
    if (now - lastPost < PROGRESS_INTERVAL_MS && loaded < fileBytes) return; // throttle, keep the last
    lastPost = now;
    const bytesPerSec = fromCache ? null : meter.bytesPerSec();
    const etaSec = fromCache ? null : meter.etaSec(toFetch - netBytes);
    post({ kind: 'progress', loadId, file, loaded: before + loaded, total, fromCache, bytesPerSec, etaSec, ...(resumedAt > 0 ? { resumedAt } : {}) });
  };
  const fileDone = (fileBytes: number) => {
    before += fileBytes;
    lastLoaded = 0;
  };
  return { report, fileDone };
}

/** One line for the console: every phase in ms and what was read or fetched. */
export function describeTimings(x: LoadTimings): string {
  const ms = (v: number) => `${Math.round(v)} ms`;
  return (
    `total ${ms(x.totalMs)} = manifest ${ms(x.manifestMs)} (${x.manifestFrom}), model files ${ms(x.filesMs)} (fetch ${ms(x.fetchMs)} (${formatBytes(x.fetchedBytes)}), ` +
    `hash ${ms(x.hashMs)} (hashing thread ${ms(x.hashThreadMs)}), store ${ms(x.storeMs)}, read ${ms(x.readMs)} (${formatBytes(x.readBytes)})), ` +
    `runtime start-up ${ms(x.runtimeMs)} (overlapped), sessions ${ms(x.sessionMs)}, warm-up ${ms(x.warmupMs)} [storage: ${x.storage}]`
  );
}
