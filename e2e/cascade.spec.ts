// The upsampler cascade (issue 10): the toolkit's tiny cascade pack (16 -> 32, random weights;
// adm.cli.make_tiny_pack --cascade, over 1 MB so generated at test time, never committed) listed in
// models/index.json and served by route interception, run on wasm: base model, then upsampler, both
// streamed; the canvas ends at 32x32 with real pixels and Save PNG saves that image; up=0 skips it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, samplePixels, status, test, waitReady } from './fixtures';

const ID = 'tiny16up';

function makeCascadePack(): { manifest: Record<string, unknown>; files: Record<string, Buffer> } {
  const dir = mkdtempSync(join(tmpdir(), 'tinycascade-'));
  try {
    execFileSync('bash', ['scripts/py.sh', '-m', 'adm.cli.make_tiny_pack', '--cascade', '--out', join(dir, 'pack')], { stdio: 'pipe' });
    const files = Object.fromEntries(readdirSync(join(dir, 'pack')).map((f) => [f, readFileSync(join(dir, 'pack', f))]));
    const manifest = JSON.parse(files['manifest.json'].toString()) as Record<string, unknown>;
    delete files['manifest.json'];
    return { manifest, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let pack: ReturnType<typeof makeCascadePack>;
test.beforeAll(() => {
  pack = makeCascadePack();
});

async function servePack(page: Page): Promise<string[]> {
  const served: string[] = [];
  await page.route('**/models/index.json', async (route) => {
    const index = await (await route.fetch()).json();
    index.packs.push({ id: ID, title: pack.manifest.title, path: `models/${ID}/` });
    await route.fulfill({ json: index });
  });
  await page.route(`**/models/${ID}/*`, async (route) => {
    const file = new URL(route.request().url()).pathname.split('/').pop()!;
    served.push(file);
    if (file === 'manifest.json') return route.fulfill({ json: pack.manifest });
    const body = pack.files[file];
    return body ? route.fulfill({ body, contentType: 'application/octet-stream' }) : route.fulfill({ status: 404, body: 'not here' });
  });
  return served;
}

/** Every text the status line shows from now on (a MutationObserver in the page). */
async function recordStatus(page: Page): Promise<() => Promise<string[]>> {
  await status(page).evaluate((el) => {
    const w = window as unknown as { statusSeen: string[] };
    w.statusSeen = [];
    new MutationObserver(() => w.statusSeen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
  });
  return () => page.evaluate(() => (window as unknown as { statusSeen: string[] }).statusSeen);
}

test('runs the base model, then the upsampler, streaming both: the canvas ends at 32x32 and Save PNG saves it', async ({ page }) => {
  const served = await servePack(page);
  await page.goto(`./?pack=${ID}&ep=wasm&steps=2&seed=3`);
  await waitReady(page);
  expect(served).toContain('upsampler.onnx');
  const toggle = page.getByRole('checkbox', { name: 'Upsample to 32×32' });
  await expect(toggle).toBeChecked();
  const seen = await recordStatus(page);
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2 · upsampled in 10 steps/, { timeout: 180_000 });
  const texts = await seen();
  expect(texts.some((t) => /upsampling step \d+ \/ 10/.test(t))).toBe(true);
  // The base stage came first (its step count), the upsample stage after it.
  const firstUp = texts.findIndex((t) => t.includes('upsampling'));
  expect(texts.slice(0, firstUp).some((t) => /Generating · step [12] \/ 2/.test(t))).toBe(true);
  await expect(page.getByRole('img', { name: 'Sample' })).toHaveAttribute('data-painted', /:10$/);
  const px = await samplePixels(page);
  expect([px.width, px.height]).toEqual([32, 32]);
  expect(px.distinct).toBeGreaterThan(10);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save PNG' }).click()]);
  const png = readFileSync((await download.path())!);
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([32, 32]); // IHDR width, height
});

test('up=0 (the checkbox off) stops after the base model at 16x16', async ({ page }) => {
  await servePack(page);
  await page.goto(`./?pack=${ID}&ep=wasm&steps=2&up=0`);
  await waitReady(page);
  await expect(page.getByRole('checkbox', { name: 'Upsample to 32×32' })).not.toBeChecked();
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2$/, { timeout: 120_000 });
  const px = await samplePixels(page);
  expect([px.width, px.height]).toEqual([16, 16]);
  expect(px.distinct).toBeGreaterThan(10);
  await page.getByRole('checkbox', { name: 'Upsample to 32×32' }).check();
  await expect(page).not.toHaveURL(/up=0/);
});
