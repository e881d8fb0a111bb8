// Deployed to a plain static host (no COOP/COEP/CSP headers, under a sub-path): the built app makes
// itself cross-origin isolated with its service worker (src/sw/) and one reload, so the wasm EP runs
// on more than one thread, and a full run completes. Where service workers are blocked it runs on one
// thread, says so, and does not reload in a loop. A second visit whose models/ folder cannot be
// reached still runs from the copy stored in OPFS.
import type { Page } from '@playwright/test';
import { previewHeaders } from '../vite.config';
import { expect, generate, samplePixels, status, test, waitReady } from './fixtures';
import { serveStatic, type StaticHost } from '../tools/lib/staticHost';

const SUB = '/demo/guided-diffusion/';
const QUERY = '?pack=tiny16&ep=wasm&steps=3&seed=5';

let host: StaticHost;
test.beforeAll(async () => {
  host = await serveStatic('dist', SUB); // built by playwright.config.ts's webServer
});
test.afterAll(async () => host.close());
test.beforeEach(() => {
  host.unreachable = () => false;
});

const banner = (page: Page) => page.getByRole('note', { name: 'Execution provider' });

/** Documents loaded in `page` (the first load and any reload; not the app's own URL updates). */
function countNavigations(page: Page): () => number {
  let n = 0;
  page.on('domcontentloaded', () => n++);
  return () => n;
}

test('a headerless static host: isolated by the service worker, wasm on several threads, a full run', async ({ page }) => {
  // The host really sends none of the headers.
  const direct = await page.request.get(host.url);
  expect(direct.headers()['cross-origin-embedder-policy']).toBeUndefined();
  expect(direct.headers()['cross-origin-opener-policy']).toBeUndefined();

  const navigations = countNavigations(page);
  const models: { file: string; viaWorker: boolean }[] = [];
  page.on('response', (r) => {
    if (r.url().endsWith('.onnx')) models.push({ file: r.url().split('/').pop()!, viaWorker: r.fromServiceWorker() });
  });
  await page.goto(`${host.url}${QUERY}`);
  await waitReady(page);
  expect(navigations()).toBe(2); // the first visit, and the one reload through the service worker
  expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
  const threads = Number(/CPU, (\d+) threads?\)/.exec((await banner(page).textContent()) ?? '')?.[1]);
  expect(threads).toBeGreaterThan(1);
  expect(threads).toBe(await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency)));
  // The worker adds headers to the page and worker scripts only; the model files bypass it.
  expect(models.length).toBeGreaterThan(0);
  expect(models.filter((m) => m.viaWorker)).toEqual([]);

  await generate(page, /Done .*step 3 \/ 3/);
  expect((await samplePixels(page)).distinct).toBeGreaterThan(1);

  // A later visit is controlled from the start: no reload. With the pack's server gone it runs from
  // the copy stored in OPFS (index.json and the manifest fall back to their stored copies).
  await page.close();
  host.unreachable = (path) => path.startsWith('models/');
  const second = await page.context().newPage();
  const secondNavigations = countNavigations(second);
  await second.goto(`${host.url}${QUERY}`);
  await waitReady(second);
  expect(secondNavigations()).toBe(1);
  expect(await second.evaluate(() => window.crossOriginIsolated)).toBe(true);
  await expect(second.locator('.load-profile')).toContainText('all from storage');
  await generate(second, /Done .*step 3 \/ 3/);
});

test("a host that sends the app's Content-Security-Policy but no COOP/COEP: isolated, no violation", async ({ page }) => {
  const csp = previewHeaders['Content-Security-Policy'];
  const strict = await serveStatic('dist', SUB, { 'Content-Security-Policy': csp });
  try {
    const problems: string[] = [];
    page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`Refused to: ${e.violatedDirective} ${e.blockedURI}`));
    });
    const navigations = countNavigations(page);
    await page.goto(`${strict.url}${QUERY}`);
    await waitReady(page);
    expect(navigations()).toBe(2);
    expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
    await expect(banner(page)).toContainText(/CPU, [2-9] threads/);
    expect(problems).toEqual([]);
    // The page served through the service worker still has the server's policy: an inline script is refused.
    expect(await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.head.append(s);
      return (window as unknown as { __inlineRan?: boolean }).__inlineRan ?? false;
    })).toBe(false);
  } finally {
    await strict.close();
  }
});

test.describe('service workers blocked', () => {
  test.use({ serviceWorkers: 'block' });

  test('one thread, the notice says so, no reload loop, and the run completes', async ({ page }) => {
    const navigations = countNavigations(page);
    await page.goto(`${host.url}${QUERY}`);
    await waitReady(page);
    expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(false);
    await expect(banner(page)).toContainText('Running on WebAssembly (CPU, 1 thread)');
    // One thread per instance: with a second core the classifier gradient runs beside the U-Net in its own.
    if (await page.evaluate(() => navigator.hardwareConcurrency >= 2)) {
      await expect(page.locator('.pack-info').first()).toContainText('classifier gradient in its own worker');
    }
    await generate(page, /Done .*step 3 \/ 3/);
    await expect(status(page)).toContainText('Done');
    expect(navigations()).toBe(1);
  });
});
