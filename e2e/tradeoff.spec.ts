// The Trade-off view (issue 21): N seeds at K scales in one batch, a chart (an image with an accessible
// name) and a table that fill in while it runs, precision and recall at the end against the default
// pack's reference features; a pack without them says why; Save PNG holds grid and chart. Few steps
// and the fewest seeds on purpose.
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import type { Page } from '@playwright/test';
import { expect, status, test, waitReady } from './fixtures';

const table = (page: Page) => page.getByRole('table', { name: /Per scale/ });
/** The table's cell texts, row by row (header row first). */
const tableText = (page: Page) => table(page).getByRole('row').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent ?? '')));
const NUM = /^-?\d+\.\d+$/;

/** Non-white pixels of the chart canvas (it is drawn, not blank). */
const inked = (page: Page) =>
  page.getByRole('img', { name: /^Trade-off chart/ }).evaluate((c) => {
    const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
    return n;
  });

test('trade-off on the default pack (wasm): chart and table fill in, precision and recall at the end, Save PNG', async ({ page }) => {
  await page.goto('./?ep=wasm&mode=classifier&steps=3&seed=1&class=217&view=tradeoff&tscales=0,8&tn=4');
  await waitReady(page);
  await expect(page.getByRole('tab', { name: 'Trade-off' })).toHaveAttribute('aria-selected', 'true');
  const chart = page.getByRole('img', { name: /^Trade-off chart: fidelity \(mean log p of the class\) and diversity/ });
  await expect(chart).toBeVisible();
  await expect(page.getByText(/No precision and recall/)).toHaveCount(0); // the default pack carries reference features
  await expect(page.getByRole('group', { name: 'scale 8', exact: true }).getByRole('figure')).toHaveCount(4);
  const before = await inked(page);

  await page.getByRole('button', { name: 'Generate' }).click();
  // Live: after the first step, fidelity and diversity of every scale are in the table.
  await expect(status(page)).toHaveText(/step [123] \/ 3/, { timeout: 300_000 });
  await expect.poll(async () => (await tableText(page)).slice(1).every((r) => NUM.test(r[1]) && NUM.test(r[2])), { timeout: 300_000 }).toBe(true);
  await expect(status(page)).toHaveText(/Done .*step 3 \/ 3/, { timeout: 300_000 });

  const rows = await tableText(page);
  expect(rows[0]).toEqual(['Scale', 'Fidelity: mean log p(class)', 'Diversity: pixel L2', 'Classifier softmax L2', 'Precision', 'Recall']);
  expect(rows.slice(1).map((r) => r[0])).toEqual(['scale 0', 'scale 8']);
  for (const r of rows.slice(1)) {
    expect(r.slice(1).every((v) => NUM.test(v))).toBe(true);
    expect(Number(r[4])).toBeGreaterThanOrEqual(0);
    expect(Number(r[5])).toBeLessThanOrEqual(1);
  }
  // Guidance raises the classifier's log p of the class.
  expect(Number(rows[2][1])).toBeGreaterThan(Number(rows[1][1]));
  await expect(page.getByRole('img', { name: /with precision and recall$/ })).toBeVisible();
  expect(await inked(page)).toBeGreaterThan(before);
  expect(page.url()).toMatch(/view=tradeoff.*tscales=0%2C8&tn=4/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('tabpanel').getByRole('button', { name: 'Save PNG' }).click()]);
  expect(download.suggestedFilename()).toBe('English_springer-tradeoff-scale_0-scale_8-ddim3-seed1.png');
  const png = PNG.sync.read(readFileSync(await download.path()));
  // Two rows of four 128 px cells, then the 720 x 190 chart under them.
  expect(png.width).toBeGreaterThanOrEqual(720);
  expect(png.height).toBeGreaterThanOrEqual(2 * 128 + 190);
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('trade-off on a pack without reference features: fidelity and diversity only, and it says why', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=2&seed=3&view=tradeoff&tscales=0,2&tn=4');
  await waitReady(page);
  const why = page.getByText(/No precision and recall: this pack carries no reference features/);
  await expect(why).toBeVisible();
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2/, { timeout: 120_000 });
  const rows = await tableText(page);
  expect(rows.slice(1).every((r) => NUM.test(r[1]) && NUM.test(r[2]) && r[4] === '–' && r[5] === '–')).toBe(true);
  await expect(why).toBeVisible();
  await expect(page.getByRole('img', { name: /no precision and recall: this pack carries no reference features/ })).toBeVisible();
});
