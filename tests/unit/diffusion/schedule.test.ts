import { describe, expect, it } from 'vitest';
import { getNamedBetaSchedule, createProcess } from '../../../src/diffusion';
import { expectClose, fixture } from './helpers';

type Schedules = Record<'linear' | 'cosine', { betas: number[]; alphasCumprod: number[] }>;
const golden = fixture<Schedules>('schedules.json');

function cumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  betas.forEach((b, i) => (out[i] = acc = acc * (1 - b)));
  return out;
}

describe('beta schedules (fact sheet §7, T = 1000)', () => {
  it('linear matches the reference numbers', () => {
    const b = getNamedBetaSchedule('linear', 1000);
    const ac = cumprod(b);
    expect(b.length).toBe(1000);
    expect(b[0]).toBe(1e-4);
    expect(b[1]).toBeCloseTo(1.1991991991991993e-4, 18);
    expect(b[999]).toBe(0.02);
    expect(ac[0]).toBeCloseTo(0.9999, 15);
    expect(ac[999] / 4.035829765375676e-5).toBeCloseTo(1, 12);
  });

  it('cosine matches the reference numbers (only the last beta is clipped)', () => {
    const b = getNamedBetaSchedule('cosine', 1000);
    const ac = cumprod(b);
    expect(b[0] / 4.128422482196914e-5).toBeCloseTo(1, 12);
    expect(b[1] / 4.614175273665033e-5).toBeCloseTo(1, 12);
    expect(b[999]).toBe(0.999);
    expect(b.filter((v) => v === 0.999).length).toBe(1);
    expect(ac[0] / 0.999958715775178).toBeCloseTo(1, 12);
    expect(ac[999] / 2.4287669070348567e-9).toBeCloseTo(1, 9);
  });

  it.each(['linear', 'cosine'] as const)('%s matches adm/diffusion.py to 1e-9 relative', (name) => {
    const b = getNamedBetaSchedule(name, 1000);
    expectClose(b, golden[name].betas, 1e-9, 0, `${name} betas`);
    expectClose(cumprod(b), golden[name].alphasCumprod, 1e-9, 0, `${name} alphasCumprod`);
  });

  it('linear is rescaled by 1000/T for other step counts', () => {
    const b = getNamedBetaSchedule('linear', 4000);
    expect(b[0]).toBeCloseTo(0.25e-4, 18);
    expect(b[3999]).toBeCloseTo(0.005, 15);
  });

  it('rejects unknown schedules and bad step counts', () => {
    expect(() => getNamedBetaSchedule('quadratic', 1000)).toThrow(/unknown noise schedule "quadratic"/);
    expect(() => getNamedBetaSchedule('linear', 0)).toThrow(/positive integer/);
    expect(() => getNamedBetaSchedule('linear', 2.5)).toThrow(/positive integer/);
    expect(() =>
      createProcess({ noiseSchedule: 'sigmoid' as 'linear', diffusionSteps: 1000, timestepRespacing: '250', learnSigma: true }),
    ).toThrow(/unknown noise schedule/);
  });
});
