// One pack through the built app in Chromium: open ?pack=ID, wait for "Ready" (or the load error),
// click Generate, wait for "Done". Times come from this side (goto to Ready) and from the app (its
// "[pack] ... ready on EP: ..." console line, the page clock of each step via PAGE_INSTRUMENTATION).
// A load error is kept as the app words it; the app's up-front refusals are told apart from failures.
import type { BrowserContext, ConsoleMessage, Page } from '@playwright/test';
import { LOADED, RUN_ENDED, waitForStatus } from '../bench/browser';
import { PAGE_INSTRUMENTATION, type PageBench } from '../bench/instrument';
import { errText, round } from '../bench/report';

export type Outcome = 'ran' | 'refused' | 'load-error' | 'run-failed' | 'timeout' | 'crashed';

/**
 * 'refused' for the errors the app raises before downloading anything because the pack cannot run here
 * (src/worker/runtime/graphChoice.ts: file over 2 GiB, float16 on wasm, wasm heap over 4 GiB; src/worker/storage/quota.ts:
 * storage quota); anything else is a failure while loading.
 */
export function classifyLoadError(message: string): 'refused' | 'load-error' {
  return /^(This pack cannot run on |Not enough storage space for this pack)/.test(message) ? 'refused' : 'load-error';
}

/** The phases of src/worker/loadReport.ts describeTimings ("total 812 ms = manifest 3 ms (network), fetch ...") in ms. */
export function parseLoadLine(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/([a-z][a-z -]*?) (\d+) ms/g)) out[m[1].trim()] = Number(m[2]);
  return out;
}

const statusText = () => document.querySelector('[role="status"]')?.textContent ?? '';

export interface AppRun {
  outcome: Outcome;
  /** The status line at the end. */
  statusText: string;
  /** The app's error banner (load or run), without its fixed wording around the message. */
  error?: string;
  /** From page.goto to the status "Ready" (or the load error), on this side's clock. */
  toReadyMs?: number;
  /** The worker's console line and its phases (ms). */
  loadLine?: string;
  loadPhasesMs?: Record<string, number>;
  /** Click on Generate to the status "step 1 / N" (page clock). */
  firstStepMs?: number;
  clickToDoneMs?: number;
}

/** One page of the app, watched: the worker's latest "[pack] ..." line, crashes, the error banner. */
export function watchPage(page: Page, timeoutMs: number) {
  const w = { loadLine: undefined as string | undefined, crashed: false };
  const onConsole = (m: ConsoleMessage) => {
    const t = m.text();
    if (t.startsWith('[pack] ')) w.loadLine = t;
  };
  // The line comes from the worker; depending on the Playwright version it reaches the page's event, the worker's, or both.
  page.on('console', onConsole);
  page.on('worker', (wk) => wk.on('console', onConsole));
  page.on('crash', () => void (w.crashed = true)); // the renderer died (out of memory, as a rule): no status to read any more
  const stuck = async (what: string, e: unknown): Promise<Pick<AppRun, 'outcome' | 'statusText' | 'error'>> =>
    w.crashed
      ? { outcome: 'crashed', statusText: '', error: `the page crashed before "${what}": ${errText(e)}` }
      : { outcome: 'timeout', statusText: await page.evaluate(statusText).catch(() => ''), error: `no "${what}" within ${timeoutMs / 1000} s: ${errText(e)}` };
  const errorBanner = async () => {
    const t = (await page.locator('[role="alert"]').allTextContents()).join(' ').trim();
    return t.replace(/^Could not load the model pack: /, '').replace(/\. Pick another pack or reload the page\.$/, '').replace(/^The run failed: /, '') || undefined;
  };
  return { w, stuck, errorBanner };
}

/**
 * Opens pack `id` on `ep` in `page` (or reloads it: `reload`) and waits for "Ready" or the load
 * error. Never throws for what the app reports.
 */
export async function openPack(
  page: Page, url: string, id: string, ep: string, steps: number, timeoutMs: number,
  reload = false, watch: ReturnType<typeof watchPage> = watchPage(page, timeoutMs),
): Promise<AppRun> {
  const { w, stuck, errorBanner } = watch;
  w.loadLine = undefined;
  const t0 = performance.now();
  if (reload) await page.reload();
  else await page.goto(`${url}?pack=${encodeURIComponent(id)}&ep=${ep}&steps=${steps}&sampler=ddim&seed=1`);
  let ready: string;
  try {
    ready = await waitForStatus(page, LOADED, timeoutMs, 200);
  } catch (e) {
    return stuck('Ready', e);
  }
  const toReadyMs = round(performance.now() - t0);
  if (!ready.startsWith('Ready')) {
    const error = (await errorBanner()) ?? 'no error message shown';
    return { outcome: classifyLoadError(error), statusText: ready, error, toReadyMs };
  }
  await page.waitForTimeout(500); // the console line is posted with "ready": let it arrive
  const loadLine = w.loadLine;
  return { outcome: 'ran', statusText: ready, toReadyMs, loadLine, loadPhasesMs: loadLine ? parseLoadLine(loadLine) : undefined };
}

/**
 * Loads pack `id` on `ep` and runs `steps` DDIM steps. `phase` is called with 'load' and 'step' as
 * each begins (the memory sampler's phases). Never throws for what the app reports.
 */
export async function loadAndStep(ctx: BrowserContext, url: string, id: string, ep: string, steps: number, timeoutMs: number, phase: (name: string) => void): Promise<AppRun> {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.addInitScript(PAGE_INSTRUMENTATION);
  const watch = watchPage(page, timeoutMs);
  phase('load');
  const base = await openPack(page, url, id, ep, steps, timeoutMs, false, watch);
  if (base.outcome !== 'ran') return base;
  const { stuck, errorBanner } = watch;

  phase('step');
  const clickAt = await page.evaluate(() => performance.now());
  await page.getByRole('button', { name: 'Generate' }).click();
  let final: string;
  try {
    final = await waitForStatus(page, RUN_ENDED, timeoutMs);
  } catch (e) {
    return { ...base, ...(await stuck('Done', e)) };
  }
  const doneAt = await page.evaluate(() => performance.now());
  const b = await page.evaluate(() => (window as unknown as { __bench: PageBench }).__bench);
  const run: AppRun = {
    ...base,
    statusText: final,
    firstStepMs: b.steps[1] !== undefined ? round(b.steps[1] - clickAt) : undefined,
    clickToDoneMs: round(doneAt - clickAt),
  };
  if (!final.startsWith('Done')) return { ...run, outcome: 'run-failed', error: (await errorBanner()) ?? 'no error message shown' };
  return run;
}
