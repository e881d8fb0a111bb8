import { describe, expect, it } from 'vitest';
import { IMAGENET_CLASSES, searchClasses, shortName } from '../../../src/ui/data/classes';

describe('ImageNet classes', () => {
  it('ships all 1000 names in label order', () => {
    expect(IMAGENET_CLASSES).toHaveLength(1000);
    expect(shortName(0)).toBe('tench');
    expect(shortName(217)).toBe('English springer');
    expect(shortName(999)).toBe('toilet tissue');
  });

  it('finds classes by every word, by index, and lists the pack classes first', () => {
    const known = new Set([574]);
    expect(searchClasses('golf ball', known)[0]).toMatchObject({ index: 574, inPack: true });
    expect(searchClasses('482', known)[0].index).toBe(482);
    const sharks = searchClasses('shark', new Set([3]));
    expect(sharks[0]).toMatchObject({ index: 3, inPack: true });
    expect(sharks.slice(1).every((m) => !m.inPack)).toBe(true);
    expect(searchClasses('', new Set([999]), 5).map((m) => m.index)).toEqual([999, 0, 1, 2, 3]);
    expect(searchClasses('zzzz', known)).toEqual([]);
  });
});
