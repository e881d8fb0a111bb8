import { describe, expect, it } from 'vitest';
import { adoptPack, stepsOfRespacing } from '../../../src/ui/packDefaults';
import { createAppStore } from '../../../src/ui/store/store';
import { fakeManifest } from './fakes';

describe('adoptPack', () => {
  it('reads the step count of a respacing string', () => {
    expect(stepsOfRespacing('ddim25', 1000)).toBe(25);
    expect(stepsOfRespacing('250', 1000)).toBe(250);
    expect(stepsOfRespacing('10,10,10', 1000)).toBe(30);
    expect(stepsOfRespacing('', 100)).toBe(100);
    expect(stepsOfRespacing('ddim300', 1000)).toBeNull();
  });

  it('keeps what the URL or the user set, fills in the rest from the pack', () => {
    const store = createAppStore();
    store.getState().applyUrl({ classifierScale: 7, imagenetClass: 482 });
    adoptPack(store, fakeManifest());
    expect(store.getState().params).toMatchObject({ classifierScale: 7, imagenetClass: 482, steps: 10, sampler: 'ddim' });
    expect(store.getState().notices).toEqual([]);
  });

  it('falls back to a known class with a message when the linked class is not in the pack', () => {
    const store = createAppStore();
    store.getState().applyUrl({ imagenetClass: 1 });
    adoptPack(store, fakeManifest());
    expect(store.getState().params.imagenetClass).toBe(0);
    expect(store.getState().notices[0].text).toBe('Pack "Fake 8x8" does not know class 1 (goldfish); using tench instead.');
  });

  it('re-enables U-Net conditioning for a pack that cannot sample unconditionally', () => {
    const store = createAppStore();
    store.getState().applyUrl({ conditionUnet: false, steps: 5000 });
    adoptPack(store, fakeManifest({ unconditionalLabel: null }));
    expect(store.getState().params).toMatchObject({ conditionUnet: true, steps: 1000 });
    // Neither change is silent: the visitor asked for both in the URL.
    const texts = store.getState().notices.map((n) => n.text).join(' | ');
    expect(texts).toMatch(/cannot sample unconditionally/);
    expect(texts).toMatch(/using 1000 sampling steps instead of 5000/);
  });
});
