// The WebGPU EP for real (SwiftShader in headless Chromium, ~2 s per step here) on the tiny
// 16x16 pack: one load (shader compilation dominates), then a full run, then mid-run controls.
import { expect, generate, recordCanvas, samplePixels, status, test, waitPainted, waitReady } from './fixtures';

const stepOf = (text: string | null) => Number(/step (\d+) \//.exec(text ?? '')?.[1] ?? NaN);

test('tiny pack on WebGPU: a full run, then the guidance slider mid-run and Stop', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=webgpu&steps=5&seed=3&sampler=ddim&scale=1');
  await waitReady(page);
  await expect(page.getByText(/WebGPU runs on a software adapter/)).toBeVisible();
  await expect(page.getByText(/· WebGPU, tensors in GPU buffers/)).toBeVisible();
  await expect(status(page)).toHaveText('Ready · step 0 / 5');

  const hashes = await recordCanvas(page);
  await generate(page, /Done .*step 5 \/ 5/);
  const final = await samplePixels(page);
  expect(final).toMatchObject({ width: 16, height: 16 });
  expect(final.distinct).toBeGreaterThan(16); // not a uniform image
  expect((await hashes()).length).toBeGreaterThanOrEqual(3); // the picture changed over the steps
  await expect(page.getByText(/log p\(y \| xₜ\): -?\d+\.\d{3}/)).toBeVisible();
  expect(page.url()).toMatch(/pack=tiny16.*seed=3.*ep=webgpu/);

  // A long DDPM run: change the guidance scale while it runs, then stop it.
  await page.getByRole('spinbutton', { name: 'Steps' }).fill('1000');
  await page.getByRole('combobox', { name: 'Sampler' }).selectOption('ddpm');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Generating · step [1-9]\d* \/ 1000/);
  const slider = page.getByRole('slider', { name: 'Guidance scale' });
  await slider.focus();
  for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowRight'); // 1 -> 4 in steps of 0.5
  await expect(slider).toHaveValue('4');
  const changedAt = stepOf(await status(page).textContent());
  const applied = page.getByText(/scale 4\.0 applied at step \d+/);
  await expect(applied).toBeVisible();
  // Same run, later step: the new scale was picked up without a restart.
  expect(Number(/at step (\d+)/.exec((await applied.textContent()) ?? '')?.[1])).toBeGreaterThanOrEqual(changedAt);

  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(status(page)).toHaveText(/Stopped · step \d+ \/ 1000/);
  const stoppedAt = stepOf(await status(page).textContent());
  expect(stoppedAt).toBeLessThan(1000);
  await waitPainted(page);
  const frozen = await samplePixels(page);
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Generate' })).toBeEnabled();
  expect((await samplePixels(page)).hash).toBe(frozen.hash);
  expect(stepOf(await status(page).textContent())).toBe(stoppedAt);
});

/** The sample canvas' RGBA bytes. */
const canvasBytes = (page: import('@playwright/test').Page) =>
  page.getByRole('img', { name: 'Sample' }).evaluate((el) => {
    const c = el as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });

// WebGPU here keeps inputs and outputs in GPU buffers (src/worker/runtime/graphIo.ts): the U-Net and the
// gradient graph bind one upload of x_t and are read back after both ran.
test('tiny pack: WebGPU paints the picture wasm paints (same seed and steps, within float rounding)', async ({ page }) => {
  const q = 'pack=tiny16&steps=5&seed=3&sampler=ddim&scale=1&mode=classifier';
  const pictures: Record<string, number[]> = {};
  for (const ep of ['wasm', 'webgpu']) {
    await page.goto(`./?${q}&ep=${ep}`);
    await waitReady(page);
    await generate(page, /Done .*step 5 \/ 5/);
    pictures[ep] = await canvasBytes(page);
  }
  const [a, b] = [pictures.wasm, pictures.webgpu];
  expect(a).toHaveLength(16 * 16 * 4);
  expect(b).toHaveLength(a.length);
  const diffs = a.map((v, i) => Math.abs(v - b[i]));
  // Same float32 graphs on two engines: kernel order differs, so allow a few 8-bit levels, no more.
  expect(Math.max(...diffs)).toBeLessThanOrEqual(4);
  expect(diffs.reduce((s, d) => s + d, 0) / diffs.length).toBeLessThan(0.5);
  expect(new Set(a).size).toBeGreaterThan(16); // a real picture, not a flat one
});
