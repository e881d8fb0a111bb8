// The Single, Sweep and Diversity views (issue 9): tabs from the keyboard, real pixels per grid cell
// (cells differ, frames stream, Stop freezes them), links that reproduce a grid bit for bit, the
// guidance instruments, Save PNG of a whole grid, and the class list while a pack loads.
// Cheap on purpose: the tiny pack for most, few steps on the default pack.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { PNG } from 'pngjs';
import type { Browser, Page } from '@playwright/test';
import { expect, pixelStats, recordCanvas, status, test, waitReady, type PixelStats } from './fixtures';

interface Cell extends PixelStats {
  name: string;
  group: string;
}

/** Real pixels of every cell of the visible grid, by figure name (and its group). */
async function gridCells(page: Page): Promise<Cell[]> {
  const figures = await page.getByRole('tabpanel').getByRole('figure').all();
  return Promise.all(
    figures.map(async (f) => ({
      name: (await f.getAttribute('aria-label')) ?? '',
      group: await f.evaluate((el) => el.closest('[role="group"]')?.getAttribute('aria-label') ?? ''),
      ...(await f.locator('canvas').evaluate(pixelStats)),
    })),
  );
}

const byName = (cells: Cell[]) => Object.fromEntries(cells.map((c) => [`${c.group}/${c.name}`, c.hash]));

/** Clicks Generate, waits for `final` and for the grid to show that run's last step. */
async function generateGrid(page: Page, final: RegExp, timeout = 240_000): Promise<void> {
  const before = await status(page).getAttribute('data-run-id');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).not.toHaveAttribute('data-run-id', before ?? '');
  await expect(status(page)).toHaveText(final, { timeout });
  const runId = await status(page).getAttribute('data-run-id');
  const step = /step (\d+) \//.exec((await status(page).textContent()) ?? '')?.[1];
  await expect(page.locator('.grid-view')).toHaveAttribute('data-painted', `${runId}:${step}`);
}

/** Main-thread long tasks (PerformanceObserver 'longtask'), recorded from page load. */
async function observeLongTasks(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __long: { start: number; duration: number }[] };
    w.__long = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__long.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
}
const longTasksSince = (page: Page, t0: number) =>
  page.evaluate((t) => (window as unknown as { __long: { start: number; duration: number }[] }).__long.filter((e) => e.start >= t), t0);

/**
 * The main thread must stay free while a grid streams: no long task over 50 ms. PerformanceObserver
 * measures wall time, which the scheduler stretches when the machine's load exceeds its cores (shared
 * CI, background training): there only the CPU time of each main-thread task (from a Chrome trace)
 * is held to 50 ms, and the wall times are reported.
 */
function machineBusy(): { busy: boolean; why: string } {
  const load = loadavg()[0];
  return { busy: load > cpus().length, why: `load ${load.toFixed(1)} on ${cpus().length} cores` };
}

/** CPU time (ms) of every main-thread task of the page's renderer in a Chrome trace over 5 ms. */
function mainThreadTaskCpuMs(trace: Buffer): number[] {
  const json = JSON.parse(trace.toString()) as { traceEvents: { ph: string; name: string; pid: number; tid: number; dur?: number; tdur?: number; args?: { name?: string } }[] };
  const ev = json.traceEvents;
  const mains = new Set(ev.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  return ev
    .filter((e) => e.ph === 'X' && e.name === 'RunTask' && mains.has(`${e.pid}:${e.tid}`) && (e.tdur ?? 0) > 5000)
    .map((e) => Math.round((e.tdur ?? 0) / 100) / 10);
}

async function traced<T>(browser: Browser, page: Page, body: () => Promise<T>): Promise<{ result: T; cpuMs: number[] }> {
  await browser.startTracing(page, { categories: ['devtools.timeline'] });
  try {
    const result = await body();
    return { result, cpuMs: mainThreadTaskCpuMs(await browser.stopTracing()) };
  } catch (e) {
    await browser.stopTracing().catch(() => {});
    throw e;
  }
}

test('tabs: keyboard, names, and the view in the URL', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=3');
  await waitReady(page);
  const tabs = page.getByRole('tablist', { name: 'Views' }).getByRole('tab');
  await expect(tabs).toHaveText(['Single', 'Sweep', 'Diversity', 'Trade-off']);
  const single = page.getByRole('tab', { name: 'Single' });
  await expect(single).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tabpanel', { name: 'Single' })).toBeVisible();
  await single.focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Sweep' })).toBeFocused();
  await expect(page.getByRole('tabpanel', { name: 'Sweep' })).toBeVisible();
  expect(page.url()).toContain('view=sweep');
  await page.keyboard.press('End');
  await expect(page.getByRole('tab', { name: 'Trade-off' })).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('ArrowRight'); // wraps
  await expect(page.getByRole('tab', { name: 'Single' })).toBeFocused();
  expect(page.url()).not.toContain('view=');
});

test('sweep on the tiny pack (wasm): one batch, cells stream and differ, the link reproduces every cell, no long task', async ({ page, browser }) => {
  await observeLongTasks(page);
  await page.goto('./?pack=tiny16&ep=wasm&steps=8&sampler=ddim&seed=3&view=sweep');
  await waitReady(page);
  const classifier = page.getByRole('group', { name: 'Classifier guidance' });
  const free = page.getByRole('group', { name: 'Classifier-free guidance' });
  await expect(classifier.getByRole('figure')).toHaveCount(6);
  await expect(free.getByRole('figure')).toHaveCount(6);
  await expect(classifier.getByRole('figure', { name: 'scale 16', exact: true })).toBeVisible();
  await expect(free.getByRole('figure', { name: 'CFG scale 5', exact: true })).toBeVisible();

  // Every distinct picture of one cell, once per animation frame: the cells stream.
  const cellImages = await recordCanvas(page, page.getByRole('figure', { name: 'scale 8', exact: true }).locator('canvas'));
  const t0 = await page.evaluate(() => performance.now());
  const { cpuMs } = await traced(browser, page, () => generateGrid(page, /Done .*step 8 \/ 8/));
  const long = (await longTasksSince(page, t0)).map((t) => Math.round(t.duration));
  const machine = machineBusy();
  test.info().annotations.push({ type: 'main thread', description: `long tasks (wall) ${JSON.stringify(long)} ms; task CPU over 5 ms ${JSON.stringify(cpuMs)} ms; ${machine.why}` });
  expect(Math.max(0, ...cpuMs)).toBeLessThan(50);
  if (!machine.busy) expect(long.filter((ms) => ms > 50)).toEqual([]);
  expect((await cellImages()).length).toBeGreaterThanOrEqual(4);

  const cells = await gridCells(page);
  expect(cells).toHaveLength(12);
  for (const c of cells) {
    expect(c.width, c.name).toBe(16);
    expect(c.distinct, c.name).toBeGreaterThan(20);
  }
  const h = byName(cells);
  // Different scales, different pictures (the classifier row and the CFG row alike).
  expect(new Set(cells.filter((c) => c.group === 'Classifier guidance').map((c) => c.hash)).size).toBe(6);
  expect(new Set(cells.filter((c) => c.group === 'Classifier-free guidance').map((c) => c.hash)).size).toBe(6);
  // Same noise in every cell: unguided classifier cell = CFG w = 0 cell.
  expect(h['Classifier guidance/scale 0']).toBe(h['Classifier-free guidance/CFG scale 0']);
  await expect(page.getByRole('alert')).toHaveCount(0);
  // Once done, every cell (the CFG row too, which skips the gradient graph) shows the classifier's
  // log p of its final sample.
  await expect(page.getByRole('figure').getByText(/^log p\(x₀\) -?\d+\.\d\d$/)).toHaveCount(12);

  // The link reproduces the grid bit for bit.
  const url = page.url();
  expect(url).toMatch(/view=sweep.*scales=0%2C1%2C2%2C4%2C8%2C16.*cfgs=0%2C1%2C2%2C3%2C5%2C8/);
  await page.goto(url);
  await waitReady(page);
  await generateGrid(page, /Done .*step 8 \/ 8/);
  expect(byName(await gridCells(page))).toEqual(h);

  // An edited comma list changes the grid after the next Generate.
  const list = page.getByRole('textbox', { name: 'Classifier scales' });
  await list.fill('0, 3');
  await expect(list).toHaveAttribute('aria-invalid', 'false');
  await list.fill('0, 99');
  await expect(list).toHaveAttribute('aria-invalid', 'true');
  await list.fill('0, 3');
  await generateGrid(page, /Done .*step 8 \/ 8/);
  expect((await gridCells(page)).map((c) => c.name)).toEqual(['scale 0', 'scale 3', 'CFG scale 0', 'CFG scale 1', 'CFG scale 2', 'CFG scale 3', 'CFG scale 5', 'CFG scale 8']);
  expect(page.url()).toContain('scales=0%2C3');
});

test('sweep: Stop freezes every cell mid-run', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=1000&sampler=ddpm&seed=1&view=sweep&scales=0,4&cfgs=0,3');
  await waitReady(page);
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Generating · step ([3-9]|\d\d+) \/ 1000/);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(status(page)).toHaveText(/Stopped · step \d+ \/ 1000/);
  const runId = await status(page).getAttribute('data-run-id');
  const step = /step (\d+) \//.exec((await status(page).textContent()) ?? '')?.[1];
  await expect(page.locator('.grid-view')).toHaveAttribute('data-painted', `${runId}:${step}`);
  const frozen = await gridCells(page);
  expect(frozen).toHaveLength(4);
  expect(frozen.every((c) => c.distinct > 1)).toBe(true); // painted, not blank
  await page.waitForTimeout(500);
  expect(await gridCells(page)).toEqual(frozen);
  await expect(page.getByRole('button', { name: 'Generate' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
});

test('diversity on the tiny pack: seeds per grid, two scales, read-outs, Save PNG of the whole grid', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=6&seed=3&view=diversity&n=4&dscales=0,8');
  await waitReady(page);
  const low = page.getByRole('group', { name: 'scale 0', exact: true });
  const high = page.getByRole('group', { name: 'scale 8', exact: true });
  await expect(low.getByRole('figure')).toHaveCount(4);
  await expect(high.getByRole('figure', { name: 'seed 6', exact: true })).toBeVisible();
  await generateGrid(page, /Done .*step 6 \/ 6/);
  const cells = await gridCells(page);
  expect(cells.map((c) => `${c.group}/${c.name}`)).toEqual([3, 4, 5, 6].map((s) => `scale 0/seed ${s}`).concat([3, 4, 5, 6].map((s) => `scale 8/seed ${s}`)));
  expect(cells.every((c) => c.distinct > 20)).toBe(true);
  expect(new Set(cells.map((c) => c.hash)).size).toBe(8); // every seed and every scale differs
  for (const g of [low, high]) {
    await expect(g.getByText(/diversity: pixel L2 \d\.\d{3} \(RMS, \[−1, 1\]\) · classifier softmax L2 \d\.\d{3}/)).toBeVisible();
  }
  expect(page.url()).toMatch(/view=diversity.*dscales=0%2C8&n=4/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('tabpanel').getByRole('button', { name: 'Save PNG' }).click()]);
  expect(download.suggestedFilename()).toBe('tench-diversity-scale_0-scale_8-ddim6-seed3.png');
  const png = PNG.sync.read(readFileSync(await download.path()));
  // 4 cells of 16 px zoomed to 128, plus padding, labels and titles: the whole grid, not one canvas.
  expect(png.width).toBeGreaterThanOrEqual(4 * 128);
  expect(png.height).toBeGreaterThanOrEqual(2 * 128 + 60);
});

test('single view instruments: heat map, gradient norm chart, gradient at the mean (DDPM) vs at x_t', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=6&sampler=ddpm&seed=2&scale=4');
  await waitReady(page);
  const at = page.getByRole('combobox', { name: 'Guidance gradient at' });
  await expect(at).toHaveValue('x');
  await at.selectOption('mean');
  expect(page.url()).toContain('grad=mean');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 6 \/ 6/, { timeout: 120_000 });
  const runId = await status(page).getAttribute('data-run-id');
  const heat = page.getByRole('img', { name: 'Guidance heat map' });
  await expect(heat).toHaveAttribute('data-painted', `${runId}:6`);
  const heatPx = await heat.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const s = new Set<number>();
    for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return { w: c.width, distinct: s.size };
  });
  expect(heatPx.w).toBe(16);
  expect(heatPx.distinct).toBeGreaterThan(10);
  await expect(page.getByText(/‖∇ₓ log p\(y \| xₜ\)‖: \d/)).toBeVisible();
  await expect(page.getByRole('img', { name: /gradient norm per step/ })).toBeVisible();
  await expect(page.getByText(/log p\(y \| xₜ\): -?\d/)).toBeVisible();
  const withMean = await page.getByRole('img', { name: 'Sample' }).evaluate((c: HTMLCanvasElement) => c.toDataURL());

  // At x_t (the official code) the same seed gives another picture.
  await at.selectOption('x');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).not.toHaveAttribute('data-run-id', runId ?? '');
  await expect(status(page)).toHaveText(/Done .*step 6 \/ 6/, { timeout: 120_000 });
  const runId2 = await status(page).getAttribute('data-run-id');
  await expect(page.getByRole('img', { name: 'Sample' })).toHaveAttribute('data-painted', `${runId2}:6`);
  expect(await page.getByRole('img', { name: 'Sample' }).evaluate((c: HTMLCanvasElement) => c.toDataURL())).not.toBe(withMean);

  // DDIM takes the score at x_t: the choice is disabled there.
  await page.getByRole('combobox', { name: 'Sampler' }).selectOption('ddim');
  await expect(at).toBeDisabled();
});

test('while a pack loads, a typed class can be picked and is checked when the pack is ready', async ({ page }) => {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/models/tiny16/*.onnx', async (route) => {
    await held;
    await route.fallback();
  });
  await page.goto('./?pack=tiny16&ep=wasm');
  await expect(status(page)).toHaveText(/Loading pack/);
  const cls = page.getByRole('combobox', { name: 'Class' });
  await cls.fill('golf');
  const option = page.getByRole('option', { name: /golf ball/ });
  await expect(option).toHaveAttribute('aria-disabled', 'false');
  await page.keyboard.press('Enter');
  await expect(cls).toHaveValue('golf ball (574)');
  // A class the pack lacks can be picked too, and is refused with a notice once the pack is known.
  await cls.fill('great white');
  await page.keyboard.press('Enter');
  await expect(cls).toHaveValue('great white shark (2)');
  release();
  await waitReady(page);
  await expect(page.getByText(/does not know class 2 \(great white shark\); using tench instead/)).toBeVisible();
  await expect(cls).toHaveValue('tench (0)');
  await cls.fill('golf');
  await page.keyboard.press('Enter');
  await expect(cls).toHaveValue('golf ball (574)');
  await expect(page.getByRole('listbox', { name: 'Classes' })).toHaveCount(0);
});

test('sweep on the tiny pack on WebGPU: every cell paints real, different pixels', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=webgpu&steps=3&sampler=ddim&seed=4&view=sweep&scales=0,8&cfgs=0,4');
  await waitReady(page);
  await expect(page.getByText(/· WebGPU/)).toBeVisible();
  await generateGrid(page, /Done .*step 3 \/ 3/);
  const cells = await gridCells(page);
  expect(cells.map((c) => c.name)).toEqual(['scale 0', 'scale 8', 'CFG scale 0', 'CFG scale 4']);
  expect(cells.every((c) => c.width === 16 && c.distinct > 16)).toBe(true);
  expect(cells[1].hash).not.toBe(cells[0].hash);
  expect(cells[3].hash).not.toBe(cells[2].hash);
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('sweep on the default pack (wasm, 5 steps): twelve 64x64 cells, scale changes the picture', async ({ page }) => {
  await page.goto('./?ep=wasm&steps=5&seed=1&class=217&view=sweep');
  await waitReady(page);
  await generateGrid(page, /Done .*step 5 \/ 5/, 600_000);
  const cells = await gridCells(page);
  expect(cells).toHaveLength(12);
  expect(cells.every((c) => c.width === 64 && c.distinct > 200)).toBe(true);
  const h = byName(cells);
  expect(h['Classifier guidance/scale 16']).not.toBe(h['Classifier guidance/scale 0']);
  expect(h['Classifier-free guidance/CFG scale 8']).not.toBe(h['Classifier-free guidance/CFG scale 0']);
  expect(new Set(cells.map((c) => c.hash)).size).toBeGreaterThanOrEqual(10);
  // The trained classifier scores the strongly guided cell above the unguided one (final samples, t = 0).
  const logpOf = async (name: string) => Number((await page.getByRole('figure', { name, exact: true }).getByText(/^log p\(x₀\)/).textContent())!.split(' ').at(-1));
  expect(await logpOf('scale 16')).toBeGreaterThan(await logpOf('scale 0'));
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('diversity and the instruments on the default pack (wasm, 3 steps)', async ({ page }) => {
  await page.goto('./?ep=wasm&mode=classifier&steps=3&seed=1&class=217&view=diversity&n=2&dscales=0,8');
  await waitReady(page);
  await generateGrid(page, /Done .*step 3 \/ 3/, 600_000);
  const cells = await gridCells(page);
  expect(cells.map((c) => `${c.group}/${c.name}`)).toEqual(['scale 0/seed 1', 'scale 0/seed 2', 'scale 8/seed 1', 'scale 8/seed 2']);
  expect(cells.every((c) => c.width === 64 && c.distinct > 200)).toBe(true);
  expect(new Set(cells.map((c) => c.hash)).size).toBe(4);
  await expect(page.getByText(/classifier softmax L2 \d\.\d{3}/)).toHaveCount(2);

  await page.getByRole('tab', { name: 'Single' }).click();
  await page.getByRole('combobox', { name: 'Sampler' }).selectOption('ddpm');
  await page.getByRole('combobox', { name: 'Guidance gradient at' }).selectOption('mean');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 3 \/ 3/, { timeout: 300_000 });
  const runId = await status(page).getAttribute('data-run-id');
  await expect(page.getByRole('img', { name: 'Guidance heat map' })).toHaveAttribute('data-painted', `${runId}:3`);
  await expect(page.getByRole('img', { name: /gradient norm per step/ })).toBeVisible();
  expect(page.url()).toMatch(/grad=mean/);
});

test('diversity and the instruments on the tiny pack on WebGPU', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=webgpu&steps=2&seed=2&view=diversity&n=2&dscales=0,8');
  await waitReady(page);
  await generateGrid(page, /Done .*step 2 \/ 2/);
  const cells = await gridCells(page);
  expect(cells).toHaveLength(4);
  expect(cells.every((c) => c.distinct > 16)).toBe(true);
  expect(new Set(cells.map((c) => c.hash)).size).toBe(4);
  await expect(page.getByText(/classifier softmax L2 \d\.\d{3}/)).toHaveCount(2);
  await page.getByRole('tab', { name: 'Single' }).click();
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2/, { timeout: 120_000 });
  const runId = await status(page).getAttribute('data-run-id');
  await expect(page.getByRole('img', { name: 'Guidance heat map' })).toHaveAttribute('data-painted', `${runId}:2`);
  await expect(page.getByText(/‖∇ₓ log p\(y \| xₜ\)‖: \d/)).toBeVisible();
});
