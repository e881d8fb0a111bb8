// The full flow on the WebGPU EP (SwiftShader in headless Chromium) with the tiny 16x16 pack.
import { expect, generate, recordCanvas, samplePixels, status, test, waitReady } from './fixtures';

test('tiny pack on WebGPU: load, generate, frames advance, the link reproduces the image', async ({ page }) => {
  const onnxRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('.onnx')) onnxRequests.push(r.url());
  });
  await page.goto('./?pack=tiny16&ep=webgpu&steps=8&seed=3&sampler=ddim');
  await waitReady(page);
  expect(onnxRequests.length).toBeGreaterThan(0);
  await expect(page.getByText(/WebGPU runs on a software adapter/)).toBeVisible();
  await expect(page.getByText(/· WebGPU/)).toBeVisible();
  await expect(status(page)).toHaveText('Ready · step 0 / 8');

  const hashes = await recordCanvas(page);
  await generate(page, /Done .*step 8 \/ 8/);
  const final = await samplePixels(page);
  expect(final).toMatchObject({ width: 16, height: 16 });
  expect(final.distinct).toBeGreaterThan(16); // not a uniform image
  // The picture changed over the run (one distinct image per painted step, at least a few).
  expect((await hashes()).length).toBeGreaterThanOrEqual(3);
  await expect(page.getByText(/log p\(y \| xₜ\): -?\d+\.\d{3}/)).toBeVisible();

  // The URL now holds every param; opening it again reproduces the image, from the cache.
  expect(page.url()).toMatch(/pack=tiny16.*seed=3.*ep=webgpu/);
  onnxRequests.length = 0;
  await page.goto(page.url());
  await waitReady(page);
  expect(onnxRequests).toEqual([]);
  await generate(page, /Done .*step 8 \/ 8/);
  expect((await samplePixels(page)).hash).toBe(final.hash);
});
