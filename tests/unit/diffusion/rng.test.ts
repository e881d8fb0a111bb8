import { describe, expect, it } from 'vitest';
import { createGaussianRng } from '../../../src/diffusion';

describe('createGaussianRng', () => {
  it('is reproducible, and fill() continues the next() stream', () => {
    const a = createGaussianRng(123);
    const b = createGaussianRng(123);
    const viaNext = Array.from({ length: 7 }, () => a.next());
    const viaFill = new Float32Array(7);
    b.fill(viaFill);
    expect(Array.from(viaFill)).toEqual(viaNext.map(Math.fround));
    expect(a.next()).toBe(b.next());
  });

  it('different seeds and streams give different sequences', () => {
    const first = (seed: number, stream = 0) => createGaussianRng(seed, stream).next();
    const values = new Set([first(0), first(1), first(2), first(0, 1), first(0, 2), first(2 ** 32), first(2 ** 40 + 5)]);
    expect(values.size).toBe(7);
  });

  it('looks standard normal (moments of 200k draws)', () => {
    const r = createGaussianRng(2024);
    const n = 200_000;
    let s1 = 0;
    let s2 = 0;
    let s4 = 0;
    let beyond3 = 0;
    for (let k = 0; k < n; k++) {
      const v = r.next();
      s1 += v;
      s2 += v * v;
      s4 += v ** 4;
      if (Math.abs(v) > 3) beyond3++;
    }
    expect(Math.abs(s1 / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.06);
    expect(beyond3 / n).toBeGreaterThan(0.0022);
    expect(beyond3 / n).toBeLessThan(0.0032);
  });

  it('rejects seeds that are not non-negative safe integers', () => {
    for (const bad of [-1, 1.5, NaN, 2 ** 60]) expect(() => createGaussianRng(bad)).toThrow(/seed must be/);
    expect(() => createGaussianRng(1, -2)).toThrow(/stream must be/);
  });
});
