// Released-checkpoint import in the page: a narrowed random-weight U-Net + classifier pair in the official key
// format (made at test time by `npm run fixture -- --convert`, which also converts it with `npm run convert`) is
// set into the input named "Checkpoint files"; the page recognises both, builds and stores the pack, loads it,
// and its image for a fixed seed, class, classifier scale and 2 DDIM steps is the one `npm run sample` makes
// from the converted pack (within 2/255). Hostile archives and a file that matches no template are refused in
// the page with their reasons. The same pair given by URL (a second local server, another origin, with CORS
// and Range: ./checkpointServer.ts) draws the same image; URLs the page may not read get their own messages.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import type { Page } from '@playwright/test';
import { packFixture } from '../tests/unit/checkpoint/packFixture';
import { expect, status, test, waitPainted, waitReady } from './fixtures';
import { serveCheckpoints, type CheckpointServer } from './checkpointServer';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let dir = '';
let hostileDir = '';
let server: CheckpointServer | null = null;
const SEED = 7;
const CLASS = 217; // in the default pack too, which loads first (a class it lacks would be replaced)
const SCALE = 3;

test.beforeAll(async () => {
  test.setTimeout(900_000);
  ({ dir } = await packFixture());
  hostileDir = mkdtempSync(join(tmpdir(), 'gd-e2e-hostile-'));
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'tests/fixtures/make_torch_archives.py'), hostileDir], {
    cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  if (r.status !== 0) throw new Error(`make_torch_archives.py failed: ${r.stderr.slice(-2000)}`);
  server = await serveCheckpoints(dir);
});

test.afterAll(async () => {
  if (hostileDir) rmSync(hostileDir, { recursive: true, force: true });
  await server?.close();
});

/** The page's templates/ folder, served from the fixture's narrowed templates. */
async function serveTemplates(page: Page): Promise<void> {
  await page.route('**/templates/**', (route) => {
    const rel = new URL(route.request().url()).pathname.replace(/^.*\/templates\//, '');
    try {
      route.fulfill({ body: readFileSync(join(dir, 'templates', rel)), contentType: rel.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    } catch {
      route.fulfill({ status: 404, body: 'not found' });
    }
  });
}

let sampled: PNG | null = null;
/** `npm run sample` on the converted pack: its one sample, as a PNG (made once per run). */
function samplePng(): PNG {
  sampled ??= runSample();
  return sampled;
}

function runSample(): PNG {
  const out = mkdtempSync(join(tmpdir(), 'gd-e2e-sample-'));
  try {
    const r = spawnSync('npx', ['tsx', 'tools/sample.ts', '--pack', join(dir, 'pack'), '--class', String(CLASS), '--scale', String(SCALE),
      '--respacing', 'ddim2', '--ddim', '--seed', String(SEED), '--save-samples', out, '--threads', '1'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`npm run sample failed: ${r.stderr.slice(-2000)}`);
    const [png] = readdirSync(out).filter((f) => f.endsWith('.png'));
    return PNG.sync.read(readFileSync(join(out, png)));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Generates with the loaded pack and compares the saved PNG with `npm run sample`'s (within 2/255). */
async function expectSampleImage(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2/, { timeout: 300_000 });
  await waitPainted(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save PNG' }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^English_springer.*-s${SCALE}-ddim2-seed${SEED}\\.png$`, "i"));
  const got = PNG.sync.read(readFileSync((await download.path())!));
  const want = samplePng();
  expect([got.width, got.height]).toEqual([want.width, want.height]);
  let worst = 0;
  for (let i = 0; i < got.data.length; i++) if (i % 4 !== 3) worst = Math.max(worst, Math.abs(got.data[i] - want.data[i]));
  expect(worst).toBeLessThanOrEqual(2);
}

test('drops a checkpoint pair: recognised, built, stored, and it draws the image npm run sample draws from the converted pack', async ({ page }) => {
  test.setTimeout(600_000);
  await serveTemplates(page);
  await page.goto(`./?ep=wasm&steps=2&sampler=ddim&seed=${SEED}&class=${CLASS}&scale=${SCALE}`);
  await waitReady(page);
  await page.getByLabel('Checkpoint files').setInputFiles([join(dir, 'unet.pt'), join(dir, 'classifier.pt')]);
  const list = page.getByRole('list', { name: 'Recognised checkpoints' });
  await expect(list).toContainText('unet.pt: Narrowed 64×64 class-conditional U-Net (test fixture), 956K parameters');
  await expect(list).toContainText('classifier.pt: Narrowed 64×64 noisy classifier (test fixture), 1.9M parameters');
  await expect(page.getByLabel('Checkpoint import result')).toContainText('unet.pt + classifier.pt (your files): built in');
  // The new pack is picked and loaded from storage.
  await expect(page.getByRole('combobox', { name: 'Model pack' })).toHaveValue(/-[0-9a-f]{12}$/);
  await waitReady(page);

  await expectSampleImage(page);

  // Under Cached packs, with Delete; deleting it takes it out of the picker too.
  const picker = page.getByRole('combobox', { name: 'Model pack' });
  await expect(picker.getByRole('option', { name: 'unet.pt + classifier.pt (your files)' })).toHaveCount(1);
  await page.locator('summary', { hasText: 'Cached packs' }).click();
  await page.getByRole('button', { name: 'Delete unet.pt + classifier.pt (your files)' }).click();
  await expect(picker.getByRole('option', { name: 'unet.pt + classifier.pt (your files)' })).toHaveCount(0);
});

test('refuses hostile archives and a file that matches no template, saying why', async ({ page }) => {
  await serveTemplates(page);
  await page.goto('./?ep=wasm');
  await waitReady(page); // an import waits for the pack load in progress (one job at a time in the worker)
  const input = page.getByLabel('Checkpoint files');
  const alert = page.getByRole('alert').filter({ hasText: /refusing|cannot read|matches no/ });
  await input.setInputFiles(join(hostileDir, 'hostile', 'global_os_system.pt'));
  await expect(alert).toContainText('refusing global_os_system.pt');
  await expect(alert).toContainText('os.system');
  await input.setInputFiles(join(hostileDir, 'hostile', 'deflate_bomb.pt'));
  await expect(alert).toContainText('refusing deflate_bomb.pt');
  await expect(alert).toContainText('compressed');
  await input.setInputFiles(join(dir, 'odd.pt'));
  await expect(alert).toContainText('odd.pt matches no released network: "out.2.bias" has shape [5], not [6]');
});

test('takes the pair by URL from another server (CORS, Range): downloaded, built, and it draws the same image', async ({ page }) => {
  test.setTimeout(600_000);
  await serveTemplates(page);
  await page.goto(`./?ep=wasm&steps=2&sampler=ddim&seed=${SEED}&class=${CLASS}&scale=${SCALE}`);
  await waitReady(page);
  await page.locator('summary', { hasText: "Open the paper's checkpoints" }).click();
  await page.getByLabel('Checkpoint URLs').fill(`${server!.origin}/cors/unet.pt\n${server!.origin}/cors/classifier.pt`);
  await page.getByRole('button', { name: 'Download and build' }).click();
  const list = page.getByRole('list', { name: 'Recognised checkpoints' });
  await expect(list).toContainText('unet.pt: Narrowed 64×64 class-conditional U-Net (test fixture), 956K parameters');
  await expect(list).toContainText('classifier.pt: Narrowed 64×64 noisy classifier (test fixture), 1.9M parameters');
  await expect(page.getByLabel('Checkpoint import result')).toContainText(/unet\.pt \+ classifier\.pt \(your files\): built in .* download/);
  await expect(page.getByRole('combobox', { name: 'Model pack' })).toHaveValue(/-[0-9a-f]{12}$/);
  await waitReady(page);
  await expectSampleImage(page);
});

test('says why a URL cannot be read: CORS, 404, a web page, another scheme', async ({ page }) => {
  await serveTemplates(page);
  await page.goto('./?ep=wasm');
  await waitReady(page);
  await page.locator('summary', { hasText: "Open the paper's checkpoints" }).click();
  const field = page.getByLabel('Checkpoint URLs');
  const go = page.getByRole('button', { name: 'Download and build' });
  const alert = page.getByRole('alert');
  const host = new URL(server!.origin).host;
  // Checked in the page before anything is fetched.
  await field.fill('ftp://example.com/64x64_diffusion.pt');
  await go.click();
  await expect(alert).toContainText('ftp: URLs cannot be read by the page');
  await field.fill('http://example.com/64x64_diffusion.pt');
  await go.click();
  await expect(alert).toContainText('plain http: on another computer');
  // Fetched by the worker.
  await field.fill(`${server!.origin}/corp/unet.pt`);
  await go.click();
  await expect(alert).toContainText(`${host} does not allow this page to read unet.pt (its CORS policy). Download the file and drop it here`);
  await field.fill(`${server!.origin}/plain/unet.pt`);
  await go.click();
  await expect(alert).toContainText(`could not read unet.pt from ${host}`);
  await expect(alert).toContainText('its CORS policy does not allow this page');
  await field.fill(`${server!.origin}/cors/missing.pt`);
  await go.click();
  await expect(alert).toContainText(`${host} has no file at this address (HTTP 404)`);
  await field.fill(`${server!.origin}/cors/page.html`);
  await go.click();
  await expect(alert).toContainText('is a web page (text/html), not a checkpoint file');
  await field.fill(`${server!.origin}/cors/odd.pt`);
  await go.click();
  await expect(alert).toContainText('odd.pt matches no released network');
});
