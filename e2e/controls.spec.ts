// Rapid changes on the tiny pack (wasm): many Generate clicks with changing params in between.
import { expect, generate, samplePixels, test, waitReady } from './fixtures';

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
