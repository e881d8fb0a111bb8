import { describe, expect, it } from 'vitest';
import { planRun, respacingFor } from '../../../src/pipeline';
import type { GenerateParams } from '../../../src/shared/protocol';
import { fakeManifest } from '../app/fakes';

const params = (over: Partial<GenerateParams> = {}): GenerateParams => ({
  imagenetClass: 482, classifierScale: 1, steps: 25, sampler: 'ddim', seed: 1, conditionUnet: true, previewOf: 'x', ...over,
});

describe('respacingFor', () => {
  it('uses the reference DDIM spacing when a stride fits, else even sections', () => {
    expect(respacingFor(25, true, 1000)).toBe('ddim25');
    expect(respacingFor(25, false, 1000)).toBe('25');
    // No integer stride s gives ceil(1000 / s) = 999.
    expect(respacingFor(999, true, 1000)).toBe('999');
  });
});

describe('planRun', () => {
  it('maps the ImageNet class into the pack label space for both networks', () => {
    const p = planRun(fakeManifest(), params());
    expect([...p.unetLabels!]).toEqual([2]);
    expect([...p.classifierLabels!]).toEqual([2]);
    expect(p.shape).toEqual([1, 3, 8, 8]);
    expect(p.process.numTimesteps).toBe(25);
    expect(p.useDdim).toBe(true);
  });

  it('feeds the unconditional label when conditioning is off', () => {
    expect([...planRun(fakeManifest(), params({ conditionUnet: false })).unetLabels!]).toEqual([3]);
  });

  it('passes no U-Net labels for an unconditional U-Net and no classifier labels without a classifier', () => {
    const p = planRun(fakeManifest({ classCond: false, classifierGrad: undefined }), params());
    expect(p.unetLabels).toBeNull();
    expect(p.classifierLabels).toBeNull();
  });

  it.each([
    [{ imagenetClass: 1 }, /does not know ImageNet class 1/],
    [{ imagenetClass: 1000 }, /not an ImageNet index/],
    [{ classifierScale: -1 }, /guidance scale -1/],
    [{ classifierScale: Number.NaN }, /guidance scale NaN/],
    [{ steps: 0 }, /steps must be a whole number from 1 to 1000/],
    [{ steps: 2.5 }, /steps/],
    [{ seed: -3 }, /seed -3/],
  ] as const)('rejects %o', (over, message) => {
    expect(() => planRun(fakeManifest(), params(over))).toThrow(message);
  });

  it('refuses unconditional sampling when the pack has no unconditional label', () => {
    expect(() => planRun(fakeManifest({ unconditionalLabel: null }), params({ conditionUnet: false }))).toThrow(/cannot sample unconditionally/);
  });
});

describe('planRun: guidance modes', () => {
  it('classifier mode (default) keeps the classifier and no null branch', () => {
    const p = planRun(fakeManifest(), params());
    expect(p.guidanceMode).toBe('classifier');
    expect(p.nullLabels).toBeNull();
    expect(p.guidanceInterval).toBeNull();
  });

  it('cfg: null labels from the manifest, no classifier, and the class for the U-Net even with cond=0', () => {
    const p = planRun(fakeManifest(), params({ guidanceMode: 'cfg', cfgScale: 3, conditionUnet: false }));
    expect([...p.unetLabels!]).toEqual([2]);
    expect([...p.nullLabels!]).toEqual([3]);
    expect(p.classifierLabels).toBeNull();
  });

  it('both: classifier and null branch; an interval is passed through', () => {
    const p = planRun(fakeManifest(), params({ guidanceMode: 'both', cfgScale: 1.5, guidanceInterval: [200, 800] }));
    expect([...p.classifierLabels!]).toEqual([2]);
    expect([...p.nullLabels!]).toEqual([3]);
    expect(p.guidanceInterval).toEqual([200, 800]);
  });

  it.each([
    [{ guidanceMode: 'cfg', cfgScale: -1 }, /classifier-free guidance scale -1 is outside 0..20/],
    [{ guidanceMode: 'cfg', cfgScale: 21 }, /classifier-free guidance scale 21/],
    [{ guidanceMode: 'cfg', cfgScale: Number.NaN }, /classifier-free guidance scale NaN/],
    [{ guidanceMode: 'sideways' as never }, /guidance mode "sideways"/],
    [{ guidanceInterval: [800, 200] as const }, /guidance interval 800,200/],
    [{ guidanceInterval: [0.5, 200] as const }, /guidance interval/],
    [{ guidanceInterval: [0, 1e6] as const }, /guidance interval/],
  ] as const)('rejects %o', (over, message) => {
    expect(() => planRun(fakeManifest(), params(over as Partial<GenerateParams>))).toThrow(message);
  });

  it('refuses classifier-free guidance for a pack without an unconditional label', () => {
    for (const guidanceMode of ['cfg', 'both'] as const) {
      expect(() => planRun(fakeManifest({ unconditionalLabel: null }), params({ guidanceMode, cfgScale: 2 }))).toThrow(
        /cannot use classifier-free guidance/,
      );
    }
  });
});
