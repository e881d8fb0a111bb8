// Broken packs and bad links, served through route interception (no broken files are shipped).
import { createHash } from 'node:crypto';
import { expect, generate, originalBytes, status, test, waitReady } from './fixtures';

const TINY = './?pack=tiny16&ep=wasm&steps=5';

test('an invalid manifest is explained, and another pack still loads', async ({ page }) => {
  await page.route('**/models/tiny16/manifest.json', async (route) => {
    const m = JSON.parse((await originalBytes(route)).toString());
    m.unet.sha256 = 'not-a-hash';
    await route.fulfill({ json: m });
  });
  await page.goto(TINY);
  await expect(page.getByRole('alert')).toContainText('Could not load the model pack: invalid manifest: manifest.unet.sha256 must be 64 lowercase hex digits');
  await expect(status(page)).toHaveText('The pack could not be loaded.');
  await expect(page.getByRole('button', { name: 'Generate' })).toBeDisabled();
  await page.getByRole('combobox', { name: 'Model pack' }).selectOption('imagenette64');
  await waitReady(page);
});

test('a sha256 mismatch is caught before the model is used', async ({ page }) => {
  await page.route('**/models/tiny16/*.onnx', async (route) => {
    const body = Buffer.from(await originalBytes(route));
    body[body.length >> 1] ^= 0xff;
    await route.fulfill({ body });
  });
  await page.goto(TINY);
  await expect(page.getByRole('alert')).toContainText(/\.onnx: sha256 mismatch/);
});

test('missing, truncated and corrupt model files each get a clear message', async ({ page }) => {
  await page.route('**/models/tiny16/*.onnx', (route) => route.fulfill({ status: 404, body: 'not here' }));
  await page.goto(TINY);
  await expect(page.getByRole('alert')).toContainText(/\.onnx: HTTP 404/);

  await page.unroute('**/models/tiny16/*.onnx');
  await page.route('**/models/tiny16/*.onnx', async (route) => {
    const body = await originalBytes(route);
    await route.fulfill({ body: body.subarray(0, body.length >> 1) });
  });
  await page.reload();
  await expect(page.getByRole('alert')).toContainText(/\.onnx: got \d+ bytes but the manifest says \d+/);

  // Right size and hash per the manifest, but not an ONNX model: ONNX Runtime's own error is shown.
  await page.unroute('**/models/tiny16/*.onnx');
  const junk = Buffer.alloc(4096, 7);
  let unetFile = '';
  await page.route('**/models/tiny16/manifest.json', async (route) => {
    const m = JSON.parse((await originalBytes(route)).toString());
    unetFile = m.unet.file;
    m.unet = { ...m.unet, bytes: junk.length, sha256: createHash('sha256').update(junk).digest('hex') };
    await route.fulfill({ json: m });
  });
  await page.route('**/models/tiny16/*.onnx', async (route) =>
    route.fulfill({ body: route.request().url().endsWith(`/${unetFile}`) ? junk : await originalBytes(route) }),
  );
  await page.reload();
  await expect(page.getByRole('alert')).toContainText(/Could not load the model pack: unet\.onnx: ONNX Runtime \(wasm\) could not load it/);
  await expect(page.getByRole('combobox', { name: 'Model pack' })).toBeEnabled();
});

test('out-of-range URL params fall back to defaults with a message each', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&scale=999&steps=0&class=5000&seed=x&sampler=euler');
  await waitReady(page);
  for (const text of [
    'URL parameter scale=999 must be a number from 0 to 20',
    'URL parameter steps=0 must be a whole number from 1 to 1000',
    'URL parameter class=5000 must be a whole number from 0 to 999',
    'URL parameter seed=x must be a whole number',
    'URL parameter sampler=euler must be one of ddpm, ddim',
  ]) {
    await expect(page.getByText(text)).toBeVisible();
  }
  await expect(page.getByRole('slider', { name: 'Guidance scale' })).not.toHaveValue('999');
  await generate(page, /Done/);
  expect(page.url()).not.toMatch(/scale=999|steps=0|class=5000/);
});

test('an unknown pack id falls back to the default pack', async ({ page }) => {
  await page.goto('./?pack=nope&ep=wasm');
  await expect(page.getByText('There is no model pack "nope"; using "imagenette64" instead.')).toBeVisible();
  await waitReady(page);
  expect(page.url()).toContain('pack=imagenette64');
});
