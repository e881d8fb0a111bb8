// The bench's load part: how long a first visit takes to get a pack ready on the wasm EP, against
// what the bytes need on the wire plus ONNX Runtime's session creation (issue 10's goal: ready
// within 1.5x of transfer + sessions), and the second visit from storage. In a fresh on-disk
// Chromium profile (OPFS on disk, as a user's browser keeps it), against the bench's `vite preview`.
//   transfer   the page fetches the same files the app will (no-store, bytes counted and dropped),
//              one after the other as the app does; done first, so both see a warm server cache
//   first      the app's first visit: its "[pack] ..." line (every phase), ready = total - warm-up
//   second     a reload: the pack read from OPFS
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { parseManifest } from '../../src/shared/manifestCheck';
import { chooseGraphs, graphParts } from '../../src/worker/runtime/graphChoice';
import { openPack, type AppRun } from '../fullsize/appRun';
import { launchChromiumProfile } from './browser';
import { errText, log, round } from './report';
import { linkPack } from './serve';

/** The goal of issue 10: ready (before the warm-up) within this many times transfer + sessions. */
export const LOAD_GOAL_FACTOR = 1.5;

/** The files a wasm load of the pack in `dir` fetches (what chooseGraphs picks, with external data). */
export function wasmFiles(dir: string): { file: string; bytes: number }[] {
  const m = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const c = chooseGraphs(m, 'wasm', false);
  const graphs = [c.unet, c.classifierGrad, c.upsampler].filter((g) => g !== null);
  return [...new Map(graphs.flatMap(graphParts).map((f) => [f.file, f])).values()];
}

/** Fetches `urls` one after the other in the page, reading and dropping every byte. */
async function transferMs(page: Page, urls: string[]): Promise<{ ms: number; bytes: number }> {
  return page.evaluate(async (list) => {
    const t0 = performance.now();
    let bytes = 0;
    for (const u of list) {
      const reader = (await fetch(u, { cache: 'no-store' })).body!.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
    }
    return { ms: performance.now() - t0, bytes };
  }, urls);
}

const phase = (run: AppRun, name: string) => run.loadPhasesMs?.[name] ?? null;

/**
 * `packDir`: a pack folder anywhere on disk (linked into `dist` as pack "load-check" for the run), or
 * a pack the build already holds (`public/models/<id>`, used as it is).
 */
export async function benchLoad(url: string, dist: string, packDir: string, timeoutMs: number) {
  const dir = resolve(packDir);
  const shipped = resolve('public/models');
  const builtIn = dir.startsWith(`${shipped}/`) && !dir.slice(shipped.length + 1).includes('/');
  const id = builtIn ? dir.slice(shipped.length + 1) : 'load-check';
  const files = wasmFiles(dir);
  const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
  const unlink = builtIn ? () => {} : linkPack(dist, dir, id, `load check: ${dir}`);
  const profile = mkdtempSync(join(os.tmpdir(), 'bench-load-chromium-'));
  try {
    const ctx = await launchChromiumProfile(profile);
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      await page.goto(`${url}models/index.json`); // any page of the origin, for the transfer
      log(`load: transfer of ${files.length} file(s), ${(totalBytes / 1e6).toFixed(1)} MB`);
      const transfer = await transferMs(page, files.map((f) => `${url}models/${id}/${f.file}`));
      if (transfer.bytes !== totalBytes) throw new Error(`the transfer got ${transfer.bytes} bytes, the manifest says ${totalBytes}`);
      log(`load: transfer ${Math.round(transfer.ms)} ms; first visit`);
      const first = await openPack(page, url, id, 'wasm', 1, timeoutMs);
      if (first.outcome !== 'ran') throw new Error(`first visit: ${first.outcome}: ${first.error ?? first.statusText}`);
      log(`load: ${first.loadLine}; second visit (from storage)`);
      const second = await openPack(page, url, id, 'wasm', 1, timeoutMs, true);
      const total = phase(first, 'total');
      const warmup = phase(first, 'warm-up');
      const sessions = phase(first, 'sessions');
      const ready = total !== null && warmup !== null ? total - warmup : null;
      const budget = sessions !== null ? LOAD_GOAL_FACTOR * (transfer.ms + sessions) : null;
      return {
        pack: dir, id, files: files.map((f) => f.file), bytes: totalBytes,
        transferMs: round(transfer.ms),
        transferMBps: round(totalBytes / 1e3 / transfer.ms),
        first: { toReadyMs: first.toReadyMs, loadLine: first.loadLine, phasesMs: first.loadPhasesMs },
        second: { outcome: second.outcome, toReadyMs: second.toReadyMs, loadLine: second.loadLine, phasesMs: second.loadPhasesMs },
        goal: {
          note: `ready = the app's total minus its warm-up; goal: ready <= ${LOAD_GOAL_FACTOR} x (transfer + sessions)`,
          readyMs: ready,
          transferPlusSessionsMs: sessions !== null ? round(transfer.ms + sessions) : null,
          readyOverTransferPlusSessions: ready !== null && sessions !== null ? round(ready / (transfer.ms + sessions)) : null,
          met: ready !== null && budget !== null ? ready <= budget : null,
        },
      };
    } finally {
      await ctx.close();
    }
  } catch (e) {
    return { pack: dir, error: errText(e) };
  } finally {
    rmSync(profile, { recursive: true, force: true }); // the OPFS copy of the pack
    unlink();
  }
}
