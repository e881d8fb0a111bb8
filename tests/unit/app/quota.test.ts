// The quota check runs before any byte of a model file is fetched, with the page's numbers.
import { describe, expect, it } from 'vitest';
import { checkRoom, quotaProblem, QuotaError, STORE_OVERHEAD_BYTES } from '../../../src/worker/storage/quota';
import { RateMeter } from '../../../src/worker/storage/rate';

const MB = 1e6;
const g = (file: string, bytes: number) => ({ file, sha256: file.padEnd(64, '0'), bytes });

describe('quotaProblem', () => {
  it('says how much is needed and how much is left, with quota and usage', () => {
    expect(quotaProblem(1400 * MB, { usage: 1480 * MB, quota: 2000 * MB, persisted: false })).toBe(
      'Not enough storage space for this pack: its model files need 1.40 GB more, but the browser lets this site store only 520 MB more ' +
        '(quota 2.00 GB, 1.48 GB in use). Delete cached packs or free disk space, then load the pack again',
    );
  });

  it('passes what fits, nothing to store, and unknown numbers', () => {
    expect(quotaProblem(100 * MB, { usage: 0, quota: 100 * MB + STORE_OVERHEAD_BYTES, persisted: null })).toBeNull();
    expect(quotaProblem(0, { usage: 10, quota: 10, persisted: null })).toBeNull();
    expect(quotaProblem(100 * MB, null)).toBeNull();
    expect(quotaProblem(100 * MB, { usage: null, quota: 5, persisted: null })).toBeNull();
  });

  it('words a refusal in the caller\'s sentence, with the same rule', () => {
    const words = ({ need, available, quota, usage }: { need: number; available: number; quota: number; usage: number }) => `${need}/${available}/${quota}/${usage}`;
    expect(quotaProblem(100, { usage: 0, quota: 100 + STORE_OVERHEAD_BYTES - 1, persisted: null }, words)).toBe(`100/${100 + STORE_OVERHEAD_BYTES - 1}/${100 + STORE_OVERHEAD_BYTES - 1}/0`);
    expect(quotaProblem(100, { usage: 0, quota: 100 + STORE_OVERHEAD_BYTES, persisted: null }, words)).toBeNull();
  });

  it('a full origin (usage above quota) has nothing left', () => {
    expect(quotaProblem(1, { usage: 3 * MB, quota: 2 * MB, persisted: true })).toMatch(/store only 0 B more/);
  });
});

describe('checkRoom', () => {
  it('counts only what is not stored yet and asks for the estimate only then', async () => {
    const stored = new Map([['unet', 30 * MB]]);
    const store = { storedBytes: async (x: { sha256: string }) => stored.get(x.sha256.replace(/0+$/, '')) ?? 0 };
    let asked = 0;
    const estimate = async () => {
      asked++;
      return { usage: 0, quota: 1000 * MB, persisted: true };
    };
    expect(await checkRoom(store, [g('unet', 40 * MB), g('grad', 8 * MB)], estimate)).toBe(18 * MB);
    expect(asked).toBe(1);
    stored.set('grad', 8 * MB);
    stored.set('unet', 40 * MB);
    expect(await checkRoom(store, [g('unet', 40 * MB), g('grad', 8 * MB)], estimate)).toBe(0);
    expect(asked).toBe(1);
  });

  it('refuses with the numbers when the rest does not fit', async () => {
    const store = { storedBytes: async () => 0 };
    const estimate = async () => ({ usage: 5 * MB, quota: 20 * MB, persisted: false });
    const p = checkRoom(store, [g('unet', 40 * MB)], estimate);
    await expect(p).rejects.toBeInstanceOf(QuotaError);
    await expect(p).rejects.toThrow(/need 40.0 MB more, but the browser lets this site store only 15.0 MB more \(quota 20.0 MB, 5.00 MB in use\)/);
  });
});

describe('RateMeter', () => {
  it('measures over a sliding window and estimates the time left', () => {
    const m = new RateMeter(3000);
    m.add(0, 0);
    expect(m.bytesPerSec()).toBeNull();
    m.add(1000, 1 * MB);
    expect(m.bytesPerSec()).toBeCloseTo(1 * MB);
    expect(m.etaSec(5 * MB)).toBeCloseTo(5);
    for (let t = 2000; t <= 10_000; t += 1000) m.add(t, 1 * MB + ((t - 1000) / 1000) * 4 * MB); // then 4 MB/s
    expect(m.bytesPerSec()).toBeCloseTo(4 * MB);
    expect(m.etaSec(0)).toBe(0);
  });
});
