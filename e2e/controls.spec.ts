// Mid-run interaction on the tiny pack. The slider/Stop test runs on WebGPU (SwiftShader), whose
// steps are slow enough to act on between them; the rapid-change test on wasm.
import { expect, generate, samplePixels, status, test, waitReady } from './fixtures';

const stepOf = (text: string | null) => Number(/step (\d+) \//.exec(text ?? '')?.[1] ?? NaN);

test('the guidance slider applies mid-run without restarting; Stop ends the run', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=webgpu&steps=1000&sampler=ddpm&scale=1');
  await waitReady(page);
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Generating · step [1-9]\d* \/ 1000/);

  const slider = page.getByRole('slider', { name: 'Guidance scale' });
  await slider.focus();
  for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowRight'); // 1 -> 4 in steps of 0.5
  await expect(slider).toHaveValue('4');
  const changedAt = stepOf(await status(page).textContent());
  await expect(page.getByText(/scale 4\.0 applied at step \d+/)).toBeVisible();
  const appliedAt = Number(/applied at step (\d+)/.exec((await page.getByText(/applied at step/).textContent()) ?? '')?.[1]);
  expect(appliedAt).toBeGreaterThanOrEqual(changedAt); // the same run went on: no restart from step 1

  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(status(page)).toHaveText(/Stopped · step \d+ \/ 1000/);
  const stoppedAt = stepOf(await status(page).textContent());
  expect(stoppedAt).toBeLessThan(1000);
  const frozen = await samplePixels(page);
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
  expect((await samplePixels(page)).hash).toBe(frozen.hash);
  expect(stepOf(await status(page).textContent())).toBe(stoppedAt);

  // Still usable: a short run completes.
  const steps = page.getByRole('spinbutton', { name: 'Steps' });
  await steps.fill('20');
  await generate(page, /Done .*step 20 \/ 20/);
});

test('rapid changes: only the last request paints, and it matches a clean run', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=30&sampler=ddim&seed=1');
  await waitReady(page);
  const go = page.getByRole('button', { name: 'Generate' });
  const seed = page.getByRole('spinbutton', { name: 'Seed' });
  const slider = page.getByRole('slider', { name: 'Guidance scale' });
  await go.click();
  await seed.fill('2');
  await go.click();
  await slider.fill('6');
  await go.click();
  await page.getByRole('combobox', { name: 'Class' }).press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await seed.fill('7');
  await generate(page, /Done .*step 30 \/ 30/);
  const final = await samplePixels(page);
  const url = page.url();
  expect(url).toMatch(/seed=7/);
  expect(url).toMatch(/scale=6/);

  await expect(page.getByRole('alert')).toHaveCount(0);

  // The canvas shows exactly what a clean run of the final params paints: no stale frame won.
  await page.goto(url);
  await waitReady(page);
  await generate(page, /Done .*step 30 \/ 30/);
  expect((await samplePixels(page)).hash).toBe(final.hash);
});
