import { describe, expect, it } from 'vitest';
import { gridRgba, toRgba, type Shape4 } from '../../../src/diffusion';

describe('toRgba', () => {
  it('maps [-1, 1] to bytes like the reference ((x+1)*127.5, clamp, truncate)', () => {
    const shape: Shape4 = [1, 3, 1, 4];
    const x = Float32Array.from([-1, 0, 1, 0.999, /* G */ -2, 2, NaN, -0.9922, /* B */ 0.5, -0.5, 0.0079, 1.5]);
    const rgba = toRgba(x, shape, 0);
    expect(Array.from(rgba)).toEqual([
      0, 0, 191, 255,
      127, 255, 63, 255,
      255, 0, 128, 255,
      254, 0, 255, 255,
    ]);
  });

  it('picks the requested sample of the batch', () => {
    const shape: Shape4 = [2, 3, 1, 1];
    const x = Float32Array.from([-1, -1, -1, 1, 1, 1]);
    expect(Array.from(toRgba(x, shape, 1))).toEqual([255, 255, 255, 255]);
    expect(() => toRgba(x, shape, 2)).toThrow(/outside 0..1/);
  });
});

describe('gridRgba', () => {
  it('tiles samples row-major with padding', () => {
    const shape: Shape4 = [3, 3, 1, 2];
    const x = new Float32Array(18);
    for (let s = 0; s < 3; s++) x.fill(s === 0 ? -1 : s === 1 ? 0 : 1, s * 6, s * 6 + 6);
    const g = gridRgba(x, shape, { pad: 1, background: [9, 9, 9, 255] });
    expect([g.width, g.height]).toEqual([2 * 2 + 1, 2 * 1 + 1]);
    const px = (cx: number, cy: number) => Array.from(g.data.subarray((cy * g.width + cx) * 4, (cy * g.width + cx) * 4 + 4));
    expect(px(0, 0)).toEqual([0, 0, 0, 255]);
    expect(px(2, 0)).toEqual([9, 9, 9, 255]);
    expect(px(4, 0)).toEqual([127, 127, 127, 255]);
    expect(px(1, 2)).toEqual([255, 255, 255, 255]);
    expect(px(3, 2)).toEqual([9, 9, 9, 255]);
  });
});
