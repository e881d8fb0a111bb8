import { describe, expect, it } from 'vitest';
import { createProcess, roundHalfEven, spaceTimesteps } from '../../../src/diffusion';
import { expectClose, fixture, respacingFixture } from './helpers';

interface Respaced {
  timestepMap: number[];
  betas: number[];
  alphasCumprod: number[];
  alphasCumprodPrev: number[];
  posteriorVariance: number[];
  posteriorLogVarianceClipped: number[];
  posteriorMeanCoef1: number[];
  posteriorMeanCoef2: number[];
}
const golden = fixture<Record<string, Respaced>>('respaced.json');
// The one list of accepted and refused respacing strings that adm/diffusion.py is held to as well.
const shared = respacingFixture();
const FIELDS = [
  'betas', 'alphasCumprod', 'alphasCumprodPrev', 'posteriorVariance',
  'posteriorLogVarianceClipped', 'posteriorMeanCoef1', 'posteriorMeanCoef2',
] as const;

const proc = (noiseSchedule: 'linear' | 'cosine', timestepRespacing: string) =>
  createProcess({ noiseSchedule, diffusionSteps: 1000, timestepRespacing, learnSigma: true });

describe('spaceTimesteps', () => {
  it('round-half-to-even like Python', () => {
    expect([0.5, 1.5, 2.5, 166.5, 832.5, 2.4999, 2.5001, 3].map(roundHalfEven)).toEqual([0, 2, 2, 166, 832, 2, 3, 3]);
  });

  it('matches the fact sheet maps', () => {
    const m250 = spaceTimesteps(1000, '250');
    expect(m250.length).toBe(250);
    expect(m250.slice(0, 4)).toEqual([0, 4, 8, 12]);
    expect(m250.slice(-3)).toEqual([991, 995, 999]);
    expect(spaceTimesteps(1000, 'ddim25')).toEqual(Array.from({ length: 25 }, (_, k) => 40 * k));
    expect(spaceTimesteps(1000, 'ddim50')).toEqual(Array.from({ length: 50 }, (_, k) => 20 * k));
    expect(spaceTimesteps(1000, 'ddim250').slice(-1)).toEqual([996]);
    expect(spaceTimesteps(1000, '25')).toEqual([
      0, 42, 83, 125, 166, 208, 250, 291, 333, 375, 416, 458, 500, 541, 583, 624, 666, 708, 749, 791, 832, 874, 916, 957, 999,
    ]);
    expect(spaceTimesteps(1000, '')).toEqual(Array.from({ length: 1000 }, (_, k) => k));
    expect(spaceTimesteps(10, '1,1,1')).toEqual([0, 4, 7]);
  });

  it.each(Object.keys(golden))('%s: timestep map is exactly adm/diffusion.py\'s', (key) => {
    const [, respacing] = key.split('/');
    expect(spaceTimesteps(1000, respacing)).toEqual(golden[key].timestepMap);
  });

  it.each(shared.accepted)('shared fixture: $diffusionSteps steps, "$respacing" keeps its timesteps', (c) => {
    expect(spaceTimesteps(c.diffusionSteps, c.respacing)).toEqual(c.steps);
  });

  it.each(shared.rejected)('shared fixture: $diffusionSteps steps, "$respacing" is refused', (c) => {
    expect(() => spaceTimesteps(c.diffusionSteps, c.respacing)).toThrow(c.message);
  });

  it('createProcess refuses what spaceTimesteps refuses', () => {
    expect(() => createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: 'fast', learnSigma: true }))
      .toThrow(/bad timestep respacing "fast"/);
  });
});

describe('respaced process', () => {
  it.each(Object.keys(golden))('%s: coefficients match adm/diffusion.py to 1e-9 relative', (key) => {
    const [schedule, respacing] = key.split('/') as ['linear' | 'cosine', string];
    const p = proc(schedule, respacing);
    const g = golden[key];
    expect(Array.from(p.timestepMap)).toEqual(g.timestepMap);
    expect(p.numTimesteps).toBe(g.timestepMap.length);
    for (const f of FIELDS) expectClose(p[f], g[f], 1e-9, 0, `${key} ${f}`);
  });

  it('matches the fact sheet §7 table', () => {
    const rows: [string, string, number, number, number, number, number, number][] = [
      ['linear', '250', 0, 9.999999999998899e-5, 0.9999, 1.0, -9.364628159803084, -9.210340371976292],
      ['linear', '250', 1, 5.990655644756426e-4, 0.9993009943420809, 0.9999, -9.364628159803084, -7.420139509285096],
      ['linear', '250', 249, 0.07751934499235003, 4.035829765375675e-5, 4.3749749585179176e-5, -2.557231152560974, -2.5572277609664122],
      ['cosine', '250', 0, 4.128422482196914e-5, 0.999958715775178, 1.0, -10.271626109313454, -10.09503009653447],
      ['cosine', '250', 249, 0.9999374992411221, 2.4287669070328107e-9, 3.88597986750303e-5, -1.0136083710146037e-4, -6.250271213174298e-5],
      ['linear', 'ddim25', 1, 0.02013508946067577, 0.9797669240482703, 0.9999, -9.215195023283597, -3.905291241645343],
      ['linear', 'ddim25', 24, 0.5326018230995546, 8.741305391053614e-5, 1.8702052817196779e-4, -0.630080803733886, -0.6299811825898486],
      ['linear', '1000', 999, 0.020000000000000018, 4.035829765375676e-5, 4.118193638138445e-5, -3.9120238291004537, -3.912023005428145],
    ];
    for (const [s, r, i, beta, ab, abPrev, plv, logBeta] of rows) {
      const p = proc(s as 'linear' | 'cosine', r);
      const what = `${s} "${r}" i=${i}`;
      expectClose([p.betas[i]], [beta], 1e-9, 0, `${what} beta`);
      expectClose([p.alphasCumprod[i]], [ab], 1e-9, 0, `${what} alphasCumprod`);
      expectClose([p.alphasCumprodPrev[i]], [abPrev], 1e-9, 0, `${what} alphasCumprodPrev`);
      expectClose([p.posteriorLogVarianceClipped[i]], [plv], 1e-9, 0, `${what} posteriorLogVarianceClipped`);
      expectClose([p.logBetas[i]], [logBeta], 1e-9, 0, `${what} log beta`);
    }
    // "1000" keeps every step but the betas still go through respacing (last bits differ).
    expect(proc('linear', '1000').betas[999]).toBe(0.020000000000000018);
    expect(proc('linear', '').betas[999]).toBe(0.020000000000000018);
  });

  it('keeps the original ᾱ at kept steps and records the original timesteps', () => {
    const full = proc('cosine', '1000');
    const p = proc('cosine', '10,10,10');
    p.timestepMap.forEach((t, i) => expect(p.alphasCumprod[i] / full.alphasCumprod[t]).toBeCloseTo(1, 9));
    expect(p.timestepMap[0]).toBe(0);
    expect(p.timestepMap[29]).toBe(999);
    expect(p.modelVarType).toBe('learnedRange');
    expect(createProcess({ noiseSchedule: 'linear', diffusionSteps: 1000, timestepRespacing: '50', learnSigma: false }).modelVarType)
      .toBe('fixedLarge');
  });
});
