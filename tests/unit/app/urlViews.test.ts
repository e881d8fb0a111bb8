// The views' state in the URL: view, sweep rows, diversity scales and seeds, gradient location.
import { describe, expect, it } from 'vitest';
import { formatScaleList, parseScaleList } from '../../../src/ui/scaleList';
import { INITIAL_PARAMS, type Params } from '../../../src/ui/store/paramsSlice';
import { parseUrlParams, toSearch } from '../../../src/ui/url';

describe('scale lists', () => {
  it('accepts comma lists within range and count, spaces allowed', () => {
    expect(parseScaleList('0, 1,2 , 4.5', { min: 0, max: 20 }, { min: 1, max: 8 })).toEqual({ ok: true, value: [0, 1, 2, 4.5] });
    expect(formatScaleList([0, 1, 2.5])).toBe('0, 1, 2.5');
  });

  it.each(['', '1,,2', '1;2', '-1', '21', 'x', '1,2,3,4,5,6,7,8,9', 'Infinity', '0x10'])('refuses %j', (raw) => {
    const r = parseScaleList(raw, { min: 0, max: 20 }, { min: 1, max: 8 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toBe('must be 1 to 8 numbers from 0 to 20, separated by commas');
  });

  it('exact counts are worded as such', () => {
    const r = parseScaleList('1,2,3', { min: 0, max: 20 }, { min: 2, max: 2 });
    expect(r).toEqual({ ok: false, why: 'must be 2 numbers from 0 to 20, separated by commas' });
  });
});

describe('URL: views', () => {
  it('parses the view fields', () => {
    const { values, errors } = parseUrlParams('?view=sweep&scales=0,2,4&cfgs=0,1.5&dscales=1,9&n=4&grad=mean');
    expect(errors).toEqual([]);
    expect(values).toEqual({ view: 'sweep', sweepScales: [0, 2, 4], sweepCfgScales: [0, 1.5], diversityScales: [1, 9], diversitySeeds: 4, gradientAt: 'mean' });
  });

  it('refuses bad view fields with a sentence each', () => {
    const { values, errors } = parseUrlParams('?view=grid&scales=0,99&cfgs=&dscales=1&n=1&grad=mu');
    expect(values).toEqual({});
    expect(errors).toEqual([
      'URL parameter view=grid must be one of single, sweep, diversity, tradeoff; using the default instead.',
      'URL parameter scales=0,99 must be 1 to 8 numbers from 0 to 20, separated by commas; using the default instead.',
      'URL parameter cfgs= must be 1 to 8 numbers from 0 to 20, separated by commas; using the default instead.',
      'URL parameter dscales=1 must be 2 numbers from 0 to 20, separated by commas; using the default instead.',
      'URL parameter n=1 must be a whole number from 2 to 12; using the default instead.',
      'URL parameter grad=mu must be one of x, mean; using the default instead.',
    ]);
  });

  it('a link of each view carries its whole grid and reproduces it', () => {
    const views: Partial<Params>[] = [
      { view: 'sweep', sweepScales: [0, 3, 6], sweepCfgScales: [0, 2] },
      { view: 'sweep' },
      { view: 'diversity', diversityScales: [2, 10], diversitySeeds: 5, guidanceMode: 'cfg' },
      { view: 'single', gradientAt: 'mean', sampler: 'ddpm' },
    ];
    for (const v of views) {
      const p: Params = { ...INITIAL_PARAMS, packId: 'tiny16', ...v };
      const search = toSearch(p);
      const back = { ...INITIAL_PARAMS, ...parseUrlParams(search).values };
      for (const k of ['view', 'sweepScales', 'sweepCfgScales', 'diversityScales', 'diversitySeeds', 'gradientAt', 'seed', 'guidanceMode'] as const) {
        expect(back[k], `${search} ${k}`).toEqual(p[k]);
      }
    }
    expect(toSearch({ ...INITIAL_PARAMS, view: 'sweep' })).toContain('scales=0%2C1%2C2%2C4%2C8%2C16');
    expect(toSearch({ ...INITIAL_PARAMS, view: 'diversity' })).toMatch(/dscales=0%2C8&n=8/);
  });

  it('the single view with default grids adds nothing to the link', () => {
    const s = toSearch({ ...INITIAL_PARAMS, packId: 'p' });
    expect(s).not.toMatch(/view=|scales=|cfgs=|dscales=|n=|grad=/);
  });
});
