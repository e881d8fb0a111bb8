// The synchronous TypeScript SHA-256 (record keys) and the WebCrypto one-shot hash: FIPS 180-4 test
// vectors, node:crypto on random inputs cut into random chunks. The hashing thread of model files:
// hasher.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256, sha256Hex } from '../../../src/worker/storage/sha256';

const text = (s: string) => new TextEncoder().encode(s);
const nodeSha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A small deterministic PRNG, so a failing chunking can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

describe('Sha256', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    [
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
    ],
  ])('FIPS 180-4 vector %j', (msg, hex) => {
    expect(new Sha256().update(text(msg)).digestHex()).toBe(hex);
  });

  it('one million "a" fed in uneven chunks', () => {
    const a = new Uint8Array(1_000_000).fill(0x61);
    const h = new Sha256();
    for (let i = 0, step = 1; i < a.length; i += step, step = (step * 7 + 3) % 9973) h.update(a.subarray(i, i + step));
    expect(h.digestHex()).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('matches node:crypto at every length around the block and padding edges', () => {
    const data = randomBytes(300);
    for (let n = 0; n <= 300; n++) expect(new Sha256().update(data.subarray(0, n)).digestHex(), `length ${n}`).toBe(nodeSha(data.subarray(0, n)));
  });

  it('matches node:crypto on random inputs cut into random chunks', () => {
    const next = rng(42);
    for (let trial = 0; trial < 40; trial++) {
      const data = randomBytes(next(20_000));
      const h = new Sha256();
      for (let i = 0; i < data.length; ) {
        const step = next(3) === 0 ? next(5) : next(2000);
        h.update(data.subarray(i, i + step));
        i += step;
      }
      expect(h.length).toBe(data.length);
      expect(h.digestHex()).toBe(nodeSha(data));
    }
  });

  it('agrees with the WebCrypto one-shot hash', async () => {
    const data = new Uint8Array(randomBytes(100_003));
    expect(new Sha256().update(data).digestHex()).toBe(await sha256Hex(data));
  });

  it('cannot be used after digest', () => {
    const h = new Sha256();
    h.digest();
    expect(() => h.update(text('x'))).toThrow(/after digest/);
  });
});
