// Seeded standard-normal generator, identical in every JS engine: xoshiro128** (32-bit integer ops
// only, via Math.imul) for uniforms, Box–Muller for normals. Math.random is never used, so a seed
// reproduces a sample exactly in the browser worker, the Node CLI and the tests.
//
// The uniforms are bit-exact everywhere. The normals go through Math.log/cos/sin: Node and Chrome
// share V8's fdlibm port, so they agree bit for bit; another engine's libm may differ in the last
// bit of a double, which the float32 rounding in `fill` hides in all but ~1e-9 of values.

export interface GaussianRng {
  /** Next standard normal (float64). */
  next(): number;
  /** Fills `out` with successive standard normals (same stream as repeated next()). */
  fill(out: Float32Array): void;
}

/** murmur3's 32-bit finaliser: spreads seed bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

/**
 * Normals for `seed` (any integer in [0, 2^53)). `stream` (default 0) selects an independent stream
 * for the same seed, e.g. one per batch of a multi-batch run.
 */
export function createGaussianRng(seed: number, stream = 0): GaussianRng {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer (got ${seed})`);
  if (!Number.isSafeInteger(stream) || stream < 0) throw new Error(`stream must be a non-negative integer (got ${stream})`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  // Seed the 128-bit state from a Weyl sequence over (lo, hi, stream); never all zero.
  let w = fmix32(lo ^ 0x243f6a88) ^ fmix32(hi ^ 0x85a308d3) ^ fmix32((stream ^ 0x13198a2e) + 0x9e3779b9);
  const word = () => fmix32((w = (w + 0x9e3779b9) >>> 0));
  let s0 = word() | 0;
  let s1 = word() | 0;
  let s2 = word() | 0;
  let s3 = word() | 0;
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  // xoshiro128** (Blackman & Vigna): 2^128 − 1 period, passes BigCrush.
  const nextU32 = (): number => {
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return r;
  };
  // Uniform in (0, 1] from 53 random bits: 1 - k / 2^53 is exact for every k, and never 0 (finite log).
  const uniform = (): number => 1 - ((nextU32() >>> 5) * TWO_POW_26 + (nextU32() >>> 6)) / TWO_POW_53;

  let spare = 0;
  let hasSpare = false;
  const next = (): number => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    hasSpare = true;
    return r * Math.cos(theta);
  };
  return {
    next,
    fill(out: Float32Array): void {
      for (let k = 0; k < out.length; k++) out[k] = next();
    },
  };
}
