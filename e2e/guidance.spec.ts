// Classifier-free guidance on the tiny pack (wasm; tiny16's U-Net has a null label): the mode is
// picked from the keyboard, the CFG slider appears, the run paints real pixels, the link
// reproduces the image, and the scale changes it.
import { expect, generate, samplePixels, test, waitReady } from './fixtures';

const DONE = /Done .*step 10 \/ 10/;

test('classifier-free guidance: keyboard mode choice, CFG slider, reproducible link', async ({ page }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=10&sampler=ddim&seed=3');
  await waitReady(page);
  const group = page.getByRole('group', { name: 'Guidance' });
  const classifier = group.getByRole('radio', { name: 'Classifier', exact: true });
  const free = group.getByRole('radio', { name: 'Classifier-free', exact: true });
  const cfgSlider = page.getByRole('slider', { name: 'CFG scale' });
  await expect(classifier).toBeChecked();
  await expect(cfgSlider).toHaveCount(0);

  // A native radio group: the arrow key moves to (and checks) the next option.
  await classifier.focus();
  await page.keyboard.press('ArrowRight');
  await expect(free).toBeChecked();
  await expect(free).toBeFocused();
  await expect(page.getByRole('slider', { name: 'Guidance scale' })).toHaveCount(0); // no classifier in this mode
  await expect(cfgSlider).toBeVisible();
  await expect(page.getByRole('checkbox', { name: 'Condition the U-Net on the class' })).toBeDisabled();

  // The CFG scale from the keyboard: 3 (app default) + 4 steps of 0.25.
  await cfgSlider.focus();
  for (let k = 0; k < 4; k++) await page.keyboard.press('ArrowRight');
  await expect(cfgSlider).toHaveValue('4');

  await generate(page, DONE);
  const guided = await samplePixels(page);
  expect(guided).toMatchObject({ width: 16, height: 16 });
  expect(guided.distinct).toBeGreaterThan(20);
  const url = page.url();
  expect(url).toContain('mode=cfg');
  expect(url).toContain('cfg=4');
  await expect(page.getByRole('alert')).toHaveCount(0);

  // The link restores the mode and scale and reproduces the image.
  await page.goto(url);
  await waitReady(page);
  await expect(free).toBeChecked();
  await expect(cfgSlider).toHaveValue('4');
  await generate(page, DONE);
  expect((await samplePixels(page)).hash).toBe(guided.hash);

  // w = 0 is plain conditional sampling: a different image from the same noise.
  await cfgSlider.focus();
  await page.keyboard.press('Home');
  await expect(cfgSlider).toHaveValue('0');
  await generate(page, DONE);
  const plain = await samplePixels(page);
  expect(plain.distinct).toBeGreaterThan(20);
  expect(plain.hash).not.toBe(guided.hash);
});
