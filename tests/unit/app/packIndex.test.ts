import { describe, expect, it } from 'vitest';
import { parsePackIndex } from '../../../src/ui/packIndex';
import index from '../../../public/models/index.json';

describe('models/index.json', () => {
  it('the shipped index parses, and pack paths resolve against the page base', () => {
    const parsed = parsePackIndex(index, 'https://x.test/app/');
    expect(parsed.defaultPackId).toBe('imagenette64');
    expect(parsed.packs.map((p) => p.id)).toContain('tiny16');
    expect(parsed.packs[0].url).toBe('https://x.test/app/models/imagenette64/');
  });

  it('rejects a malformed index and repairs a missing trailing slash or default', () => {
    expect(() => parsePackIndex({ packs: [] }, 'https://x.test/')).toThrow(/non-empty "packs"/);
    expect(() => parsePackIndex({ packs: [{ id: '../evil', path: 'x' }] }, 'https://x.test/')).toThrow(/packs\[0\]/);
    const p = parsePackIndex({ packs: [{ id: 'a', path: 'models/a' }], default: 'zzz' }, 'https://x.test/');
    expect(p).toEqual({ packs: [{ id: 'a', title: 'a', url: 'https://x.test/models/a/' }], defaultPackId: 'a' });
  });
});
