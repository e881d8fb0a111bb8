// npm run --silent bench -- [--pack imagenette64] [--steps 10] [--webgpu-pack tiny16] [--webgpu-steps N]
//   [--skip node,wasm,webgpu,bare,batch] [--no-build] [--out-dir DIR] [--scale S] [--batches 1,4,6,8]
//
// Milliseconds per guided DDIM step (U-Net + classifier-gradient graph, batch 1) measured three
// ways, printed as ONE JSON object on stdout (progress on stderr):
//   node            onnxruntime-node CPU EP, 2 threads, through tools/lib/ort.ts and sampleLoop
//   chromiumWasm    headless Chromium, the built app on the wasm EP (full) and a bare ORT loop (bare)
//   chromiumWebgpu  the same on the WebGPU EP (SwiftShader here: defaults to the tiny16 pack)
// "full" = the app: time from status "step 1 / N" to "step N / N", divided by N-1.
// "bare" = bench.html (src/bench/): the two sessions run back to back in a worker, same inputs.
// Main-thread long tasks during each full-app run come from a PerformanceObserver('longtask').
// "batch" (the grid views): ms per step at batch K (--batches) on node and Chromium wasm, the default
// sweep as one batch vs two (tools/lib/benchBatch.ts), and the app's sweep view on wasm (ms per step,
// long tasks while 12 cells stream).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from '@playwright/test';
import { createGaussianRng, createProcessForPack, sampleLoop } from '../src/diffusion';
import { CliError, finiteNumber, integer, parseFlags, runMain, str } from './lib/cli';
import { benchBrowserBatches, benchNodeBatches } from './lib/benchBatch';
import { openSession, ortClassifierGrad, ortDenoiser } from './lib/ort';
import { loadPack } from './lib/pack';

const FLAGS = {
  pack: 'string', steps: 'string', 'webgpu-pack': 'string', 'webgpu-steps': 'string', skip: 'string',
  'no-build': 'boolean', 'out-dir': 'string', scale: 'string', batches: 'string', help: 'boolean',
} as const;
const USAGE = `usage: bench [--pack imagenette64] [--steps 10] [--webgpu-pack tiny16] [--webgpu-steps N]
  [--skip node,wasm,webgpu,bare,batch] [--no-build] [--out-dir DIR] [--scale S] [--batches 1,4,6,8]`;
const PARTS = ['node', 'wasm', 'webgpu', 'bare', 'batch'] as const;
const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const round = (v: number) => Math.round(v * 100) / 100;

function stats(ms: number[]): { mean: number; median: number; min: number; max: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { mean: round(s.reduce((a, b) => a + b, 0) / s.length), median: round(median), min: round(s[0]), max: round(s[s.length - 1]), n: s.length };
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

// ---------------------------------------------------------------------------------------------
// 1. onnxruntime-node

async function benchNode(packName: string, steps: number, scaleArg: number | undefined) {
  const pack = await loadPack(join('public/models', packName));
  const m = pack.manifest;
  if (!pack.classifierGradPath) throw new CliError(`pack ${m.name} has no classifier gradient graph`);
  const threads = 2;
  const unet = await openSession(pack.unetPath, threads);
  const cls = await openSession(pack.classifierGradPath, threads);
  // steps + 1 respaced DDIM steps: the first is the warm-up and is not counted.
  const proc = createProcessForPack(m, `ddim${steps + 1}`);
  const scale = scaleArg ?? m.sampling.classifierScale;
  const label = Int32Array.of(0);
  const times: number[] = [];
  let t = performance.now();
  for await (const rec of sampleLoop({
    process: proc, shape: [1, 3, m.imageSize, m.imageSize],
    denoise: ortDenoiser(unet, m.learnSigma ? 6 : 3), unetLabels: m.classCond ? label : null,
    classifierGrad: ortClassifierGrad(cls), classifierLabels: label,
    getClassifierScale: () => scale, useDdim: true, rng: createGaussianRng(1, 0),
  })) {
    const now = performance.now();
    const dt = now - t;
    t = now;
    if (rec.step > 0) times.push(dt);
    if (rec.classifierScale === 0) throw new Error('the classifier was not called (scale 0?)');
    log(`node step ${rec.step}/${steps}${rec.step === 0 ? ' (warm-up)' : ''}: ${dt.toFixed(1)} ms`);
  }
  await unet.release();
  await cls.release();
  return { pack: m.name, ep: 'cpu (onnxruntime-node)', threads, batch: 1, steps, scale, msPerStep: stats(times), stepMs: times.map(round) };
}

// ---------------------------------------------------------------------------------------------
// 2./3. Chromium

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

function build(outDir: string): void {
  for (const args of [['vite', 'build', '--outDir', outDir, '--emptyOutDir'], ['vite', 'build', '-c', 'vite.bench.config.ts', '--outDir', outDir]]) {
    log(`npx ${args.join(' ')}`);
    const r = spawnSync('npx', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' } });
    if (r.status !== 0) throw new Error(`npx ${args.join(' ')} failed (exit ${r.status})`);
  }
}

async function startPreview(outDir: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [resolve('node_modules/vite/bin/vite.js'), 'preview', '--outDir', outDir, '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let k = 0; k < 300; k++) {
    if (proc.exitCode !== null) throw new Error(`vite preview exited with ${proc.exitCode}`);
    try {
      if ((await fetch(url)).ok) return { url, proc };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  proc.kill();
  throw new Error('vite preview did not answer within 60 s');
}

// Runs in the page before any of its scripts: long tasks and the time each "step k / N" appeared.
// A plain string: tsx (esbuild keepNames) would wrap a serialized function's inner functions in a
// __name() helper that the page does not have.
const PAGE_INSTRUMENTATION = `(() => {
  const b = (window.__bench = { longTasks: [], steps: {}, total: 0 });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) {}
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[role="status"]')) {
      const m = (el.textContent || '').match(/^(Generating|Done).*step (\\d+) \\/ (\\d+)/);
      if (!m) continue;
      const k = Number(m[2]);
      if (k > 0 && !(k in b.steps)) b.steps[k] = performance.now();
      b.total = Number(m[3]);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();`;

interface PageBench { steps: Record<number, number>; longTasks: { start: number; duration: number }[]; total: number }

async function deviceInfo(browser: Browser, url: string) {
  const page = await browser.newPage();
  try {
    await page.goto(`${url}bench.html`);
    return await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string>; features: Set<string> } | null> } }).gpu;
      let adapter: Record<string, unknown> | null = null;
      if (gpu) {
        const a = await gpu.requestAdapter();
        if (a) {
          const i = a.info ?? {};
          adapter = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, shaderF16: a.features.has('shader-f16') };
        }
      }
      return {
        userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
        crossOriginIsolated: self.crossOriginIsolated, webgpu: Boolean(gpu), adapter,
      };
    });
  } finally {
    await page.close();
  }
}

async function benchFull(browser: Browser, url: string, pack: string, ep: 'wasm' | 'webgpu', steps: number, scale: number, timeoutMs: number, extraQuery = '') {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.addInitScript(PAGE_INSTRUMENTATION);
    const q = `?pack=${pack}&ep=${ep}&steps=${steps}&scale=${scale}&seed=1&sampler=ddim${extraQuery}`;
    const tLoad = performance.now();
    await page.goto(`${url}${q}`);
    const statusEl = page.getByRole('status');
    await page.waitForFunction(() => /Ready|could not be loaded/.test(document.querySelector('[role="status"]')?.textContent ?? ''), null, { timeout: timeoutMs });
    const ready = (await statusEl.textContent()) ?? '';
    if (!ready.includes('Ready')) throw new Error(`app not ready: ${ready}`);
    const loadMs = performance.now() - tLoad;
    const clickAt = await page.evaluate(() => performance.now());
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForFunction(() => /^(Done|Run failed|Stopped)/.test(document.querySelector('[role="status"]')?.textContent ?? ''), null, { timeout: timeoutMs, polling: 100 });
    const final = (await statusEl.textContent()) ?? '';
    if (!final.startsWith('Done')) throw new Error(`run did not finish: ${final}`);
    const doneAt = await page.evaluate(() => performance.now());
    await page.waitForTimeout(200); // let the last long-task entries arrive
    const b = await page.evaluate(() => (window as unknown as { __bench: PageBench }).__bench);
    const ks = Object.keys(b.steps).map(Number).sort((x, y) => x - y);
    const first = ks[0];
    const last = ks.at(-1)!;
    if (ks.length < 2 || last !== b.total) throw new Error(`saw too few step updates (${ks.join(',')} of ${b.total})`);
    const between = ks.slice(1).map((k, j) => (b.steps[k] - b.steps[ks[j]]) / (k - ks[j]));
    const inRun = b.longTasks.filter((t) => t.start + t.duration >= clickAt && t.start <= doneAt);
    return {
      pack, ep, steps, scale, url: q,
      msPerStep: round((b.steps[last] - b.steps[first]) / (last - first)),
      stepIntervals: stats(between),
      firstStepAfterClickMs: round(b.steps[first] - clickAt),
      stepsSeen: ks.length,
      loadToReadyMs: round(loadMs),
      statusText: final,
      longTasks: {
        count: inRun.length,
        totalMs: round(inRun.reduce((a, t) => a + t.duration, 0)),
        maxMs: round(inRun.reduce((a, t) => Math.max(a, t.duration), 0)),
        window: 'click on Generate to "Done"',
        wholePageCount: b.longTasks.length,
      },
    };
  } finally {
    await ctx.close();
  }
}

async function benchBare(browser: Browser, url: string, pack: string, ep: 'wasm' | 'webgpu', steps: number, timeoutMs: number) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(`${url}bench.html`);
    await page.waitForFunction(() => document.body.dataset.benchReady === '1');
    const r = await page.evaluate(
      ([p, e, n, t]) => Promise.race([
        (window as unknown as { bareBench(p: string, e: string, n: number): Promise<{ stepMs: number[]; unetMs: number[]; gradMs: number[]; threads: number; hasGrad: boolean }> }).bareBench(p, e, n),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`bare loop timed out after ${t} ms`)), t)),
      ]),
      [pack, ep, steps, timeoutMs] as const,
    );
    return { pack, ep, steps, wasmThreads: r.threads, msPerStep: stats(r.stepMs), unetMs: stats(r.unetMs), gradMs: r.hasGrad ? stats(r.gradMs) : null };
  } finally {
    await ctx.close();
  }
}

async function benchChromium(browser: Browser, url: string, pack: string, ep: 'wasm' | 'webgpu', steps: number, scale: number, doBare: boolean, timeoutMs: number) {
  log(`chromium ${ep}: full app, pack ${pack}, ${steps} steps`);
  let full: Awaited<ReturnType<typeof benchFull>> | { error: string };
  try {
    full = await benchFull(browser, url, pack, ep, steps, scale, timeoutMs);
    log(`chromium ${ep}: full app ${full.msPerStep} ms/step`);
  } catch (e) {
    full = { error: errText(e) };
    log(`chromium ${ep}: full app failed: ${full.error}`);
  }
  let bare: Awaited<ReturnType<typeof benchBare>> | { error: string } | null = null;
  if (doBare) {
    log(`chromium ${ep}: bare ORT loop`);
    try {
      bare = await benchBare(browser, url, pack, ep, steps, timeoutMs);
      log(`chromium ${ep}: bare ${bare.msPerStep.median} ms/step (median)`);
    } catch (e) {
      bare = { error: errText(e) };
      log(`chromium ${ep}: bare loop failed: ${bare.error}`);
    }
  }
  const overhead = full && 'msPerStep' in full && bare && 'msPerStep' in bare ? round(full.msPerStep / bare.msPerStep.mean) : null;
  return { pack, steps, full, bare, fullOverBare: overhead, longTasks: 'longTasks' in full ? full.longTasks : null };
}

// ---------------------------------------------------------------------------------------------

runMain('bench', async () => {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const pack = str(flags, 'pack') ?? 'imagenette64';
  if (!existsSync(join('public/models', pack, 'manifest.json'))) throw new CliError(`no pack public/models/${pack}`);
  const steps = integer(str(flags, 'steps') ?? '10', 'steps', 2);
  const webgpuPack = str(flags, 'webgpu-pack') ?? 'tiny16';
  const webgpuSteps = integer(str(flags, 'webgpu-steps') ?? (webgpuPack === pack && pack !== 'tiny16' ? '3' : String(steps)), 'webgpu-steps', 2);
  const skip = new Set((str(flags, 'skip') ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of skip) if (!(PARTS as readonly string[]).includes(s)) throw new CliError(`--skip: unknown part "${s}" (parts: ${PARTS.join(', ')})`);
  const scaleArg = str(flags, 'scale');
  const scale = scaleArg !== undefined ? finiteNumber(scaleArg, 'scale') : undefined;
  const outDir = resolve(str(flags, 'out-dir') ?? 'node_modules/.tmp/bench-dist');
  const batches = (str(flags, 'batches') ?? '1,4,6,8').split(',').map((b) => integer(b.trim(), 'batches', 1));
  const wantBatch = !skip.has('batch');
  const batch: Record<string, unknown> = { batches, note: 'ms per step = U-Net on K rows + gradient graph on K rows (fixed inputs, median); the sweep rows: see tools/lib/benchBatch.ts' };
  const timeoutMs = 15 * 60_000;

  const result: Record<string, unknown> = {
    timestamp: new Date().toISOString(),
    pack, steps, sampler: 'ddim', batch: 1,
    machine: { note: '2-core CPU VM, no GPU: Chromium WebGPU is SwiftShader (CPU), ~100x slower than a real GPU', nodeVersion: process.version, platform: `${process.platform}-${process.arch}` },
  };

  if (wantBatch && !skip.has('node')) {
    log(`node: batches ${batches.join(',')}, ${steps} steps each`);
    try {
      batch.node = await benchNodeBatches(join('public/models', pack), batches, steps, 2, log);
    } catch (e) {
      batch.node = { error: errText(e) };
    }
  }

  if (!skip.has('node')) {
    log(`node: pack ${pack}, ${steps} guided DDIM steps after 1 warm-up`);
    try {
      result.node = await benchNode(pack, steps, scale);
    } catch (e) {
      if (e instanceof CliError) throw e;
      result.node = { error: errText(e) };
    }
  }

  const wantWasm = !skip.has('wasm');
  const wantGpu = !skip.has('webgpu');
  if (wantWasm || wantGpu) {
    if (!flags['no-build']) build(outDir);
    else if (!existsSync(join(outDir, 'bench.html'))) throw new CliError(`--no-build: ${outDir} has no built bench.html`);
    const { url, proc } = await startPreview(outDir);
    log(`serving ${outDir} at ${url}`);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      result.browser = { version: browser.version(), ...(await deviceInfo(browser, url)) };
      const packScale = async (p: string) => scale ?? (await (await fetch(`${url}models/${p}/manifest.json`)).json() as { sampling: { classifierScale: number } }).sampling.classifierScale;
      if (wantWasm) result.chromiumWasm = await benchChromium(browser, url, pack, 'wasm', steps, await packScale(pack), !skip.has('bare'), timeoutMs);
      if (wantWasm && wantBatch) {
        log(`chromium wasm: batches ${batches.join(',')} (bare loop), then the app's sweep view`);
        try {
          batch.wasm = await benchBrowserBatches(browser, url, pack, 'wasm', batches, steps, timeoutMs, log);
        } catch (e) {
          batch.wasm = { error: errText(e) };
        }
        try {
          const sweep = await benchFull(browser, url, pack, 'wasm', Math.max(2, Math.min(steps, 5)), await packScale(pack), timeoutMs, '&view=sweep');
          batch.wasmSweepApp = { ...sweep, cells: 12, note: 'the app streaming the default sweep (12 cells, one batch per step)' };
          log(`chromium wasm sweep view: ${sweep.msPerStep} ms/step, ${sweep.longTasks.count} long tasks (max ${sweep.longTasks.maxMs} ms)`);
        } catch (e) {
          batch.wasmSweepApp = { error: errText(e) };
        }
      }
      if (wantGpu) {
        result.chromiumWebgpu = {
          ...(await benchChromium(browser, url, webgpuPack, 'webgpu', webgpuSteps, await packScale(webgpuPack), !skip.has('bare'), timeoutMs)),
          note: webgpuPack === pack ? undefined : `WebGPU runs on SwiftShader (CPU) here, so it is measured on the ${webgpuPack} pack, not ${pack} (--webgpu-pack to change)`,
        };
      }
    } finally {
      await browser.close();
      proc.kill();
    }
  }
  if (wantBatch) result.batch = batch;
  const lt = (part: unknown) => (part as { longTasks?: unknown } | undefined)?.longTasks ?? null;
  result.longTasks = { wasm: lt(result.chromiumWasm), webgpu: lt(result.chromiumWebgpu) };
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
});
