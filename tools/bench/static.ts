// The bench's static-host part: the built app served by a plain static server (no COOP/COEP or CSP
// headers, under a sub-path: tools/lib/staticHost.ts, as GitHub Pages serves it), run on wasm twice
// in one go: with its service worker (coi-sw.js: cross-origin isolated, several threads) and with
// service workers blocked (not isolated: one thread, which is what such a host gave before the
// service worker). ms per step of each, and their ratio.
import type { Browser } from '@playwright/test';
import { serveStatic } from '../lib/staticHost';
import { benchFull } from './browser';
import { errText, log, round } from './report';

export async function benchStatic(browser: Browser, dist: string, pack: string, steps: number, scale: number, timeoutMs: number) {
  const host = await serveStatic(dist, '/static-host/app/');
  const run = async (what: string, serviceWorkers: 'allow' | 'block') => {
    log(`static host: ${what}, pack ${pack}, ${steps} steps`);
    try {
      const r = await benchFull(browser, host.url, pack, 'wasm', steps, scale, timeoutMs, undefined, { serviceWorkers });
      log(`static host: ${what}: ${r.msPerStep} ms/step on ${r.wasmThreads} thread(s), isolated ${r.crossOriginIsolated}`);
      return r;
    } catch (e) {
      return { error: errText(e) };
    }
  };
  try {
    const worker = await run('with the service worker', 'allow');
    const blocked = await run('service workers blocked', 'block');
    const ms = (r: typeof worker) => ('msPerStep' in r ? r.msPerStep : null);
    const [w, b] = [ms(worker), ms(blocked)];
    return {
      note: 'dist/ on a headerless static server under a sub-path: with coi-sw.js vs service workers blocked (one thread, as before coi-sw.js)',
      withServiceWorker: worker,
      serviceWorkersBlocked: blocked,
      blockedOverWithWorker: w !== null && b !== null ? round(b / w) : null,
    };
  } finally {
    await host.close();
  }
}
