// Shared e2e helpers: the page's own accessible names, real canvas pixels, and an opt-in way to
// serve locally built packs (E2E_PACKS="tiny16=/path/to/pack,imagenette64=/other") instead of
// public/models/<id>/, for testing a pack before it is copied into the app.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect, type Locator, type Page } from '@playwright/test';

export { expect };

function packOverrides(): [string, string][] {
  return (process.env.E2E_PACKS ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]);
}

export const test = base.extend<{ packOverrides: void }>({
  packOverrides: [
    async ({ page }, use) => {
      for (const [id, dir] of packOverrides()) {
        await page.route(`**/models/${id}/*`, (route) => {
          const file = new URL(route.request().url()).pathname.split('/').pop() ?? '';
          route.fulfill({ body: readFileSync(join(dir, file)), contentType: file.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
        });
      }
      await use();
    },
    { auto: true },
  ],
});

export const status = (page: Page) => page.getByRole('status');

/** Waits until the pack is loaded and warmed up (or fails the test with the page's error). */
export async function waitReady(page: Page, timeout = 180_000): Promise<void> {
  await expect(status(page)).toHaveText(/Ready|could not be loaded/, { timeout });
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(status(page)).toContainText('Ready');
}

export interface PixelStats {
  width: number;
  height: number;
  /** Number of distinct RGB triples: 1 means a uniform image. */
  distinct: number;
  /** FNV-1a over the RGBA bytes: equal images, equal hash. */
  hash: number;
}

/**
 * The pixel statistics of one canvas, computed in the page: Playwright sends this function's source,
 * so it may use nothing else from this module. samplePixels and the grid cells of views.spec.ts
 * both read pixels through it.
 */
export function pixelStats(el: Element): PixelStats {
  const c = el as HTMLCanvasElement;
  const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
  const colours = new Set<number>();
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
    if (i % 4 === 0) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return { width: c.width, height: c.height, distinct: colours.size, hash: h };
}

/** Reads the sample canvas' real pixels. */
export async function samplePixels(page: Page): Promise<PixelStats> {
  return page.getByRole('img', { name: 'Sample' }).evaluate(pixelStats);
}

/** Resolves once the canvas shows something other than `hash` (a new frame was painted). */
export async function waitForNewPixels(page: Page, hash: number, timeout = 120_000): Promise<PixelStats> {
  let last: PixelStats | null = null;
  await expect
    .poll(async () => {
      last = await samplePixels(page);
      return last.hash;
    }, { timeout })
    .not.toBe(hash);
  return last!;
}

/** The original bytes of a pack file, from an E2E_PACKS folder or the app server. */
export async function originalBytes(route: import('@playwright/test').Route): Promise<Buffer> {
  const url = new URL(route.request().url());
  const [, id, file] = url.pathname.match(/models\/([\w-]+)\/([^/]+)$/) ?? [];
  const dir = packOverrides().find(([pid]) => pid === id)?.[1];
  if (dir) return readFileSync(join(dir, file));
  // The whole file even when the app asked for a Range (it resumes stored partial downloads).
  const { range: _range, ...headers } = route.request().headers();
  return (await route.fetch({ headers })).body();
}

/** Clicks Generate and waits for that run (not an earlier one) to reach `final`, painted. */
export async function generate(page: Page, final: RegExp = /Done/, timeout = 180_000): Promise<void> {
  const before = await status(page).getAttribute('data-run-id');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).not.toHaveAttribute('data-run-id', before ?? '');
  await expect(status(page)).toHaveText(final, { timeout });
  await waitPainted(page);
}

/** Waits until the canvas shows the frame of the step the status line reports. */
export async function waitPainted(page: Page): Promise<void> {
  const runId = await status(page).getAttribute('data-run-id');
  const step = /step (\d+) \//.exec((await status(page).textContent()) ?? '')?.[1];
  await expect(page.getByRole('img', { name: 'Sample' })).toHaveAttribute('data-painted', `${runId}:${step}`);
}

/**
 * Starts recording every distinct image of a canvas (by hash), checked once per animation frame:
 * the main sample canvas, or `canvas` (a grid cell's).
 */
export async function recordCanvas(page: Page, canvas?: Locator): Promise<() => Promise<number[]>> {
  await (canvas ?? page.getByRole('img', { name: 'Sample' })).evaluate((el) => {
    const c = el as HTMLCanvasElement;
    const seen: number[] = [];
    (window as unknown as { __canvasHashes: number[] }).__canvasHashes = seen;
    const loop = () => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let h = 0x811c9dc5;
      for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 0x01000193) >>> 0;
      if (seen.at(-1) !== h) seen.push(h);
      requestAnimationFrame(loop);
    };
    loop();
  });
  return () => page.evaluate(() => (window as unknown as { __canvasHashes: number[] }).__canvasHashes.slice());
}
