// The Chromium parts of the bench, on the wasm or WebGPU EP:
//   full  the built app: time from status "step 1 / N" to "step N / N", divided by N-1, plus the
//         main thread's long tasks between the click on Generate and "Done" (./instrument.ts);
//   bare  bench.html (src/bench/, src/worker/runtime/benchBare.ts): the two sessions back to back in a worker.
import { availableParallelism } from 'node:os';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from '@playwright/test';
import type { BareResult, BareStrategy } from '../../src/shared/benchProtocol';
import { PAGE_INSTRUMENTATION, type PageBench } from './instrument';
import { errText, log, median, round, stats } from './report';
import { gradientApart } from '../../src/worker/runtime/threadSplit';

export type BrowserEp = 'wasm' | 'webgpu';

const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

/** The app's status line once it is ready, or says the pack could not be loaded. */
export const LOADED = /^Ready|could not be loaded/;
/** The app's status line once a run has ended, however it ended. */
export const RUN_ENDED = /^(Done|Run failed|Stopped)/;

/** Waits (in the page) until the app's status line matches `pattern`; resolves with that line. */
export async function waitForStatus(page: Page, pattern: RegExp, timeoutMs: number, polling: number | 'raf' = 100): Promise<string> {
  await page.waitForFunction(
    ([source, flags]) => new RegExp(source, flags).test(document.querySelector('[role="status"]')?.textContent ?? ''),
    [pattern.source, pattern.flags] as const,
    { timeout: timeoutMs, polling },
  );
  return (await page.getByRole('status').textContent()) ?? '';
}

const chromiumPath = () => process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
}

/**
 * The same Chromium with an on-disk profile in `userDataDir`, as a user's browser has one: the pack's
 * files go to OPFS on disk, where launchChromium's incognito contexts keep them in memory.
 */
export function launchChromiumProfile(userDataDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS });
}

/**
 * `extraQuery` defaults to mode=classifier: the single view then times the step node and the bare
 * loop time (U-Net and gradient graph, one row each), whatever guidance mode the pack recommends.
 * `contextOptions`: e.g. `{ serviceWorkers: 'block' }`.
 */
export async function benchFull(
  browser: Browser, url: string, pack: string, ep: BrowserEp, steps: number, scale: number, timeoutMs: number,
  extraQuery = '&mode=classifier', contextOptions: BrowserContextOptions = {},
) {
  const ctx = await browser.newContext(contextOptions);
  const page = await ctx.newPage();
  try {
    await page.addInitScript(PAGE_INSTRUMENTATION);
    const q = `?pack=${pack}&ep=${ep}&steps=${steps}&scale=${scale}&seed=1&sampler=ddim${extraQuery}`;
    const tLoad = performance.now();
    await page.goto(`${url}${q}`);
    const ready = await waitForStatus(page, LOADED, timeoutMs, 'raf');
    if (!ready.includes('Ready')) throw new Error(`app not ready: ${ready}`);
    const loadMs = performance.now() - tLoad;
    const packLine = (await page.locator('.pack-info').first().textContent()) ?? '';
    const epNote = ep === 'wasm' ? ((await page.getByRole('note', { name: 'Execution provider' }).textContent()) ?? '') : '';
    const crossOriginIsolated = await page.evaluate(() => window.crossOriginIsolated);
    const clickAt = await page.evaluate(() => performance.now());
    await page.getByRole('button', { name: 'Generate' }).click();
    const final = await waitForStatus(page, RUN_ENDED, timeoutMs);
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
      crossOriginIsolated,
      // The EP notice: "Running on WebAssembly (CPU, N threads)" (wasm only).
      wasmThreads: Number(/CPU, (\d+) threads?\)/.exec(epNote)?.[1]) || null,
      // WebGPU: the worker keeps the graphs' inputs and outputs in GPU buffers (src/worker/runtime/graphIo.ts).
      gpuResidentIo: packLine.includes('tensors in GPU buffers'),
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

/** firstSteps: steps 2-11, what a page's first image runs on while V8 still compiles (a DDIM-10 image). */
const FIRST_STEPS = 10;

type BareBench = (p: string, e: string, n: number, u: number, g: number, s: BareStrategy) => Promise<BareResult>;

/** One bare loop in bench.html: `strategy` as BareRequest (src/shared/benchProtocol.ts). */
export async function bareOnce(browser: Browser, url: string, pack: string, ep: BrowserEp, steps: number, timeoutMs: number, strategy: BareStrategy = {}) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(`${url}bench.html`);
    await page.waitForFunction(() => document.body.dataset.benchReady === '1');
    const r = await page.evaluate(
      ([p, e, n, t, s]) => Promise.race([
        (window as unknown as { bareBench: BareBench }).bareBench(p, e, n, 1, 1, s),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`bare loop timed out after ${t} ms`)), t)),
      ]),
      [pack, ep, steps, timeoutMs, strategy] as const,
    );
    const unetMs = stats(r.unetMs);
    const gradMs = r.hasGrad ? stats(r.gradMs) : null;
    const msPerStep = stats(r.stepMs);
    // A guided step over an unguided one (the U-Net alone), medians: serial adds the two graphs;
    // overlap times the guided step (both graphs at once) and the U-Net alone on its own threads.
    const ratio = (step: number[], unet: number[], grad: number[]) =>
      r.hasGrad && unet.length ? round((r.strategy === 'overlap' ? median(step) : median(unet) + median(grad)) / median(unet)) : null;
    // The first warm-up step also pays one-time costs (allocations, the first kernel runs): left out.
    const first = (a: number[]) => a.slice(1, 1 + FIRST_STEPS);
    const medianOrNull = (a: number[]) => (a.length ? round(median(a)) : null); // null: too few warm-up steps
    return {
      pack, ep, steps, warmSteps: r.warm.stepMs.length, wasmThreads: r.threads, strategy: r.strategy, split: r.split, msPerStep, unetMs, gradMs,
      guidedOverUnguided: ratio(r.stepMs, r.unetMs, r.gradMs),
      // What a page's first image meets: the first steps, while V8 still compiles the kernels.
      firstSteps: {
        n: first(r.warm.stepMs).length,
        unetMedian: medianOrNull(first(r.warm.unetMs)),
        gradMedian: r.hasGrad ? medianOrNull(first(r.warm.gradMs)) : null,
        // overlap times its unguided steps before the guided ones, in another phase of V8's compiling
        guidedOverUnguided: r.strategy === 'overlap' ? null : ratio(first(r.warm.stepMs), first(r.warm.unetMs), first(r.warm.gradMs)),
      },
      // Every step in order, warm-up first: where V8's optimising tier arrives shows as a step change.
      series: { warm: r.warm.stepMs.length, stepMs: [...r.warm.stepMs, ...r.stepMs].map(round), unetMs: [...r.warm.unetMs, ...r.unetMs].map(round), gradMs: r.hasGrad ? [...r.warm.gradMs, ...r.gradMs].map(round) : null },
    };
  } finally {
    await ctx.close();
  }
}

/**
 * The bare loop with both strategies in one run (wasm; WebGPU keeps one instance): the top-level keys
 * (as before) are those of the strategy the app uses here (`appStrategy`, by the app's own rule:
 * src/worker/runtime/threadSplit.ts, for the isolated bench page's min(4, cores) threads), `strategies` holds each.
 */
export async function benchBare(browser: Browser, url: string, pack: string, ep: BrowserEp, steps: number, timeoutMs: number, warmSteps: number) {
  const serial = await bareOnce(browser, url, pack, ep, steps, timeoutMs, { warmSteps });
  if (ep !== 'wasm') return { ...serial, strategies: null, appStrategy: 'serial' as const };
  const overlap = await bareOnce(browser, url, pack, ep, steps, timeoutMs, { strategy: 'overlap', warmSteps });
  const cores = availableParallelism();
  const appStrategy = gradientApart('wasm', Math.min(4, cores), cores, true) ? ('overlap' as const) : ('serial' as const);
  const pick = (x: typeof serial) => ({ msPerStep: x.msPerStep, unetMs: x.unetMs, gradMs: x.gradMs, split: x.split, guidedOverUnguided: x.guidedOverUnguided, firstSteps: x.firstSteps });
  return { ...(appStrategy === 'overlap' ? overlap : serial), appStrategy, strategies: { serial: pick(serial), overlap: pick(overlap) } };
}

/** The full app and (doBare) the bare loop on one EP; a part that fails is recorded as { error }. */
export async function benchChromium(browser: Browser, url: string, pack: string, ep: BrowserEp, steps: number, scale: number, doBare: boolean, timeoutMs: number, warmSteps = 1) {
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
      bare = await benchBare(browser, url, pack, ep, steps, timeoutMs, warmSteps);
      log(`chromium ${ep}: bare ${bare.msPerStep.median} ms/step (median after ${warmSteps} warm-up steps), guided ÷ unguided ${bare.guidedOverUnguided}; first steps ${bare.firstSteps.guidedOverUnguided}`);
    } catch (e) {
      bare = { error: errText(e) };
      log(`chromium ${ep}: bare loop failed: ${bare.error}`);
    }
  }
  const overhead = full && 'msPerStep' in full && bare && 'msPerStep' in bare ? round(full.msPerStep / bare.msPerStep.mean) : null;
  return { pack, steps, full, bare, fullOverBare: overhead, longTasks: 'longTasks' in full ? full.longTasks : null };
}
