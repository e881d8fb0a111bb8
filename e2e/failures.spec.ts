// Broken packs and bad links, served through route interception (no broken files are shipped).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { withExternalInitializer } from '../tests/fixtures/onnxPayloads';
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

  // Right size and hash per the manifest, but not an ONNX model: refused before ONNX Runtime, by the
  // scan for external-data references (src/shared/onnxExternal.ts), which cannot read it either.
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
  await expect(page.getByRole('alert')).toContainText(/Could not load the model pack: unet\.onnx is not a readable ONNX graph \(malformed protobuf/);
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

// Real server answers (no route faking the status): `npm start`'s server says 404 for a missing file
// instead of index.html with 200, so the page names the missing file rather than "not valid JSON"
// or "the download was cut short".
test('a missing manifest and a missing model file are reported as not found (404)', async ({ page }) => {
  await page.route('**/models/index.json', async (route) => {
    const index = JSON.parse((await originalBytes(route)).toString());
    index.packs.push({ id: 'ghost', title: 'Ghost pack (no files)', path: 'models/ghost/' });
    await route.fulfill({ json: index });
  });
  await page.goto('./?pack=ghost&ep=wasm');
  await expect(page.getByRole('alert')).toContainText('Could not load the model pack: manifest.json: HTTP 404 Not Found');

  await page.route('**/models/tiny16/manifest.json', async (route) => {
    const m = JSON.parse((await originalBytes(route)).toString());
    m.unet.file = 'missing.onnx';
    await route.fulfill({ json: m });
  });
  await page.goto(TINY);
  await expect(page.getByRole('alert')).toContainText('Could not load the model pack: missing.onnx: HTTP 404 Not Found');
});

test('picking another pack mid-download does not wait for the old download', async ({ page }) => {
  // The default pack's model files never arrive (a stalled connection) until the test ends.
  let release = () => {};
  const stalled = new Promise<void>((resolve) => (release = resolve));
  let requested = () => {};
  const firstRequest = new Promise<void>((resolve) => (requested = resolve));
  await page.route('**/models/imagenette64/*.onnx', async (route) => {
    requested();
    await stalled;
    await route.abort().catch(() => {});
  });
  try {
    await page.goto('./?pack=imagenette64&ep=wasm');
    await firstRequest;
    await page.getByRole('combobox', { name: 'Model pack' }).selectOption('tiny16');
    await waitReady(page, 60_000);
    await generate(page, /Done/);
  } finally {
    release();
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }
});

test('a manifest whose labels do not match the classifier is refused at load', async ({ page }) => {
  await page.route('**/models/tiny16/manifest.json', async (route) => {
    const m = JSON.parse((await originalBytes(route)).toString());
    m.labels = [...m.labels, 999]; // one label more than the classifier has logits
    m.unconditionalLabel = m.labels.length;
    await route.fulfill({ json: m });
  });
  await page.goto(TINY);
  await expect(page.getByRole('alert')).toContainText(/Could not load the model pack: classifier_grad\.onnx: the classifier has 10 classes but the manifest lists 11 labels/);
});

test('hostile manifests and graphs: nested 100k deep, 1e309, an unlisted external-data file: one sentence each', async ({ page }) => {
  let manifest = async (m: Record<string, unknown>, _raw: string): Promise<string> => JSON.stringify(m);
  await page.route('**/models/tiny16/manifest.json', async (route) => {
    const raw = (await originalBytes(route)).toString();
    await route.fulfill({ body: await manifest(JSON.parse(raw), raw), contentType: 'application/json' });
  });
  const alert = page.getByRole('alert');

  const n = 100_000;
  manifest = async () => `{"schemaVersion":1,"classCond":true,"labels":${'['.repeat(n)}${']'.repeat(n)}}`;
  await page.goto(TINY);
  await expect(alert).toContainText('Could not load the model pack: manifest.json nests arrays or objects more than 64 deep');

  manifest = async (_m, raw) => raw.replace(/"classifierScale": [^,]+/, '"classifierScale": 1e309');
  await page.reload();
  await expect(alert).toContainText('manifest.sampling.classifierScale must be a finite number (got Infinity (the number is too large for a 64-bit float))');

  // The U-Net graph names evil.data for one of its weights; the manifest lists no such file (and the
  // server would even serve one). Refused before ONNX Runtime sees the graph.
  const evil = Buffer.from(withExternalInitializer(readFileSync('public/models/tiny16/unet.onnx'), 'evil.data'));
  await page.route('**/models/tiny16/unet.onnx', (route) => route.fulfill({ body: evil }));
  await page.route('**/models/tiny16/evil.data', (route) => route.fulfill({ body: Buffer.alloc(16, 7) }));
  const requested: string[] = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname.split('/').pop()!));
  manifest = async (m) => {
    Object.assign(m.unet as object, { bytes: evil.length, sha256: createHash('sha256').update(evil).digest('hex') });
    return JSON.stringify(m);
  };
  await page.reload();
  await expect(alert).toContainText('unet.onnx: tensor "extra_weight" takes its data from "evil.data", which is not one of this graph\'s external-data files in the manifest (none)');
  expect(requested).not.toContain('evil.data');
});
