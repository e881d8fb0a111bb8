// The full flow on the wasm EP with the default pack, driven from the keyboard.
import { readFileSync } from 'node:fs';
import { expect, generate, recordCanvas, samplePixels, status, test, waitPainted, waitReady } from './fixtures';

test('default pack on wasm: pick a class by keyboard, generate, save a PNG, reopen the link', async ({ page }) => {
  const wasmFiles: string[] = [];
  page.context().on('request', (r) => {
    if (/\.wasm$/.test(new URL(r.url()).pathname)) wasmFiles.push(new URL(r.url()).pathname.split('/').pop() as string);
  });
  await page.goto('./?ep=wasm&steps=10');
  await waitReady(page);
  // The wasm EP runs on ORT's plain SIMD build; the Asyncify-instrumented WebGPU build (about twice
  // as slow on the CPU) is never fetched.
  expect(wasmFiles.some((f) => /^ort-wasm-simd-threaded-[\w-]+\.wasm$/.test(f))).toBe(true);
  expect(wasmFiles.filter((f) => f.includes('jsep'))).toEqual([]);
  await expect(page.getByRole('note', { name: 'Execution provider' })).toContainText('WebGPU is not in use: WebAssembly was requested (?ep=wasm)');
  // The classifier gradient gets a worker and ORT instance of its own only where the U-Net keeps two
  // threads (3+ wasm threads; threadSplit.ts): on two, both graphs share one instance.
  const threads = await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency));
  const packInfo = page.locator('.pack-info').first();
  if (threads >= 3) await expect(packInfo).toContainText('WebAssembly, classifier gradient in its own worker');
  else await expect(packInfo).not.toContainText('own worker');

  const cls = page.getByRole('combobox', { name: 'Class' });
  await cls.focus();
  await page.keyboard.type('shark');
  // Classes the pack lacks are listed but marked and not selectable.
  await expect(page.getByRole('option', { name: /great white shark/ })).toHaveAttribute('aria-disabled', 'true');
  await page.keyboard.press('Escape');
  await cls.fill('golf');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Enter');
  await expect(cls).toHaveValue('golf ball (574)');

  const hashes = await recordCanvas(page);
  await page.getByRole('button', { name: 'Generate' }).focus();
  await page.keyboard.press('Enter');
  await expect(status(page)).toHaveText(/Done .*step 10 \/ 10/, { timeout: 180_000 });
  await waitPainted(page);
  const px = await samplePixels(page);
  expect(px).toMatchObject({ width: 64, height: 64 });
  expect(px.distinct).toBeGreaterThan(100);
  expect((await hashes()).length).toBeGreaterThanOrEqual(3);
  expect(page.url()).toContain('class=574');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save PNG' }).click()]);
  expect(download.suggestedFilename()).toMatch(/^golf_ball-.*seed\d+\.png$/);
  const png = readFileSync(await download.path());
  expect(png.subarray(1, 4).toString()).toBe('PNG');

  // The link reproduces the image, and the second visit downloads no model file (stored in OPFS).
  const onnxRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('.onnx')) onnxRequests.push(r.url());
  });
  await page.goto(page.url());
  await waitReady(page);
  await expect(cls).toHaveValue('golf ball (574)');
  expect(onnxRequests).toEqual([]);
  await generate(page, /Done .*step 10 \/ 10/);
  expect((await samplePixels(page)).hash).toBe(px.hash);
});
