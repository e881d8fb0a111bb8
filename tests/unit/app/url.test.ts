import { describe, expect, it } from 'vitest';
import { INITIAL_PARAMS } from '../../../src/ui/store/paramsSlice';
import { parseUrlParams, toSearch } from '../../../src/ui/url';

describe('URL params', () => {
  it('parses every field of a shared link', () => {
    const { values, errors } = parseUrlParams('?class=217&scale=3.5&steps=50&seed=42&sampler=ddpm&pack=tiny16&ep=webgpu&cond=0&preview=x');
    expect(errors).toEqual([]);
    expect(values).toEqual({
      imagenetClass: 217, classifierScale: 3.5, steps: 50, seed: 42, sampler: 'ddpm', packId: 'tiny16', ep: 'webgpu',
      conditionUnet: false, previewOf: 'x',
    });
  });

  it('drops out-of-range and malformed values with a message each, keeping the rest', () => {
    const { values, errors } = parseUrlParams('?class=1000&scale=99&steps=0&seed=-1&sampler=euler&ep=gpu&pack=../x&cond=yes&preview=z&steps=5');
    expect(values).toEqual({});
    expect(errors).toHaveLength(9);
    expect(errors[0]).toBe('URL parameter class=1000 must be a whole number from 0 to 999; using the default instead.');
    expect(errors[1]).toMatch(/scale=99 must be a number from 0 to 20/);
    expect(errors.join(' ')).toMatch(/sampler=euler must be one of ddpm, ddim/);
  });

  it.each(['abc', '1e3', '', ' ', '2.5'])('rejects class=%j', (raw) => {
    expect(parseUrlParams(`?class=${encodeURIComponent(raw)}`).errors).toHaveLength(1);
  });

  it('round-trips through toSearch', () => {
    const p = { ...INITIAL_PARAMS, packId: 'imagenette64', imagenetClass: 482, classifierScale: 7.5, seed: 123, ep: 'wasm' as const, previewOf: 'x' as const };
    expect(parseUrlParams(toSearch(p)).values).toEqual({
      packId: 'imagenette64', imagenetClass: 482, classifierScale: 7.5, steps: p.steps, sampler: p.sampler, seed: 123, ep: 'wasm', previewOf: 'x',
    });
    expect(toSearch({ ...p, ep: 'auto' })).not.toContain('ep=');
  });

  it('fp16=0 asks for the fp32 U-Net, kept in shared links only when set', () => {
    expect(parseUrlParams('?fp16=0').values).toEqual({ fp16: false });
    expect(parseUrlParams('?fp16=half').errors).toEqual(['URL parameter fp16=half must be 0 or 1; using the default instead.']);
    expect(toSearch({ ...INITIAL_PARAMS, fp16: false })).toContain('fp16=0');
    expect(toSearch(INITIAL_PARAMS)).not.toContain('fp16');
  });
});
