// The planner's shared rules, as the worker and the CLI both use them: labels per row, the CLI's mode
// inference and scales, the cascade sequence.
import { describe, expect, it } from 'vitest';
import { createGaussianRng, createProcessForPack, sampleLoop, type StepRecord } from '../../../src/diffusion';
import { baseThenUpsample, planCascade, resolveCliGuidance, rowLabels } from '../../../src/pipeline';
import { recommendedScales } from '../../../src/shared/scales';
import { fakeManifest, fakeUpsampler, toyDenoise } from '../app/fakes';

describe('rowLabels', () => {
  const m = fakeManifest(); // labels [0, 217, 482], unconditionalLabel 3, a classifier
  const labels = Int32Array.of(1, 2);

  it('conditions the U-Net on the class, or on the null label; classifier-free rows always on the class', () => {
    expect(rowLabels(m, labels, ['classifier', 'classifier'], { conditionUnet: true }).unetLabels).toEqual(Int32Array.of(1, 2));
    expect(rowLabels(m, labels, ['classifier', 'cfg'], { conditionUnet: false }).unetLabels).toEqual(Int32Array.of(3, 2));
  });

  it('gives classifier targets only when a row is classifier-guided (or a read-out wants them), null labels only with cfg rows', () => {
    const cfgOnly = rowLabels(m, labels, ['cfg', 'cfg'], { conditionUnet: true });
    expect(cfgOnly.classifierLabels).toBeNull();
    expect(cfgOnly.nullLabels).toEqual(Int32Array.of(3, 3));
    expect(rowLabels(m, labels, ['cfg', 'cfg'], { conditionUnet: true, readout: true }).classifierLabels).toEqual(labels);
    const cls = rowLabels(m, labels, ['classifier', 'both'], { conditionUnet: true });
    expect(cls.classifierLabels).toEqual(labels);
    expect(cls.nullLabels).toEqual(Int32Array.of(3, 3));
    expect(rowLabels(fakeManifest({ classifierGrad: undefined }), labels, ['classifier', 'classifier'], { conditionUnet: true }).classifierLabels).toBeNull();
  });

  it('no class input for an unconditional U-Net; an unconditional run needs no class', () => {
    expect(rowLabels(fakeManifest({ classCond: false }), labels, ['classifier', 'classifier'], { conditionUnet: true }).unetLabels).toBeNull();
    const noClass = rowLabels(m, null, ['classifier'], { conditionUnet: false });
    expect(noClass).toEqual({ unetLabels: Int32Array.of(3), classifierLabels: null, nullLabels: null });
  });

  it('refuses what the pack cannot do', () => {
    expect(() => rowLabels(fakeManifest({ unconditionalLabel: null }), labels, ['classifier', 'classifier'], { conditionUnet: false }))
      .toThrow(/cannot sample unconditionally/);
    expect(() => rowLabels(m, null, ['classifier'], { conditionUnet: true })).toThrow(/a class is required/);
    expect(() => rowLabels(m, labels, ['classifier'], { conditionUnet: true })).toThrow(/2 labels for 1 samples/);
  });
});

describe('resolveCliGuidance', () => {
  const m = fakeManifest({ sampling: { classifierScale: 99, cfgScale: -4, timestepRespacing: 'ddim10', useDdim: true } });
  const req = { unconditional: false, hasClassifier: true };

  it('infers the mode from the scales given, else takes the pack\'s', () => {
    expect(resolveCliGuidance(m, { ...req, cfgScale: 2 }).mode).toBe('cfg');
    expect(resolveCliGuidance(m, { ...req, cfgScale: 2, scale: 1 }).mode).toBe('both');
    expect(resolveCliGuidance(m, { ...req, scale: 1 }).mode).toBe('classifier');
    expect(resolveCliGuidance(fakeManifest({ sampling: { ...m.sampling, guidanceMode: 'cfg' } }), req).mode).toBe('cfg');
  });

  it('starts from the pack\'s recommendation clamped into the app limits (the page\'s rule), 0 for a kind the mode does not use', () => {
    expect(recommendedScales(m)).toEqual({ classifierScale: 20, cfgScale: 0 });
    expect(resolveCliGuidance(m, { ...req, mode: 'both' })).toMatchObject({ scale: 20, cfgScale: 0 });
    expect(resolveCliGuidance(m, { ...req, mode: 'cfg', cfgScale: 2.5 })).toMatchObject({ scale: 0, cfgScale: 2.5 });
    expect(resolveCliGuidance(m, { ...req, hasClassifier: false })).toMatchObject({ mode: 'classifier', scale: 0 });
  });

  it.each([
    [{ mode: 'free' }, /--mode must be one of classifier, cfg, both/],
    [{ mode: 'cfg', scale: 2 }, /--scale \(the classifier scale\) has no effect with --mode cfg/],
    [{ mode: 'classifier', cfgScale: 2 }, /--cfg-scale has no effect/],
    [{ unconditional: true, cfgScale: 2 }, /--unconditional contradicts --mode cfg/],
    [{ scale: 1, hasClassifier: false }, /cannot be guided \(use --scale 0\)/],
  ])('refuses %o', (over, message) => {
    expect(() => resolveCliGuidance(m, { ...req, ...over })).toThrow(message);
  });
});

describe('baseThenUpsample', () => {
  const m = fakeManifest({ upsampler: fakeUpsampler({ imageSize: 16, sampling: { timestepRespacing: 'ddim3', useDdim: true } }) });
  const base = (stop?: () => boolean) => sampleLoop({
    process: createProcessForPack(m, 'ddim4'), shape: [1, 3, 8, 8], denoise: toyDenoise(), unetLabels: Int32Array.of(1),
    getScales: () => ({ classifier: 0, cfg: 0 }), useDdim: true, rng: createGaussianRng(5), shouldStop: stop,
  });
  const run = (stop?: () => boolean) => ({
    stage: planCascade(m, true)!, labels: Int32Array.of(1), seed: 5, batch: 0, shouldStop: stop,
    denoiseWith: (lowRes: Float32Array) => {
      expect(lowRes.length).toBe(3 * 8 * 8);
      return toyDenoise();
    },
  });
  const stagesOf = async (it: AsyncIterable<{ stage: string; rec: StepRecord }>) => {
    const out: string[] = [];
    for await (const { stage, rec } of it) out.push(`${stage}${rec.step}`);
    return out;
  };

  it('runs the base steps, then the upsampler on the finished sample', async () => {
    expect(planCascade(m, false)).toBeNull();
    expect(planCascade(fakeManifest(), true)).toBeNull();
    expect(await stagesOf(baseThenUpsample(base(), run()))).toEqual(['base0', 'base1', 'base2', 'base3', 'upsample0', 'upsample1', 'upsample2']);
    expect(await stagesOf(baseThenUpsample(base(), null))).toEqual(['base0', 'base1', 'base2', 'base3']);
  });

  it('does not upsample a base run that was stopped', async () => {
    let steps = 0;
    const stop = () => steps++ >= 2;
    expect(await stagesOf(baseThenUpsample(base(stop), run(stop)))).toEqual(['base0', 'base1']);
  });
});
