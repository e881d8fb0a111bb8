// Timestep respacing: which original timesteps a shorter sampler keeps, and the betas that make
// the kept steps a valid diffusion process of their own (same ᾱ at every kept step).

/** Python's round(): ties go to the even neighbour. The reference relies on it ("25" keeps 166, not 167). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function parseCount(s: string, what: string, spec: string): number {
  const t = s.trim();
  if (!/^\d+$/.test(t)) throw new Error(`bad timestep respacing "${spec}": ${what} "${s}" is not a non-negative integer`);
  return Number(t);
}

/**
 * Original timesteps kept by a respacing string, ascending.
 *  - "" : all T steps (the reference's default when no respacing is given).
 *  - "ddimN": the smallest integer stride s with |range(0, T, s)| = N; keeps 0, s, 2s, ...
 *  - "a,b,c": T split into len(counts) consecutive sections (the first T % n get one extra step);
 *    each section keeps `count` steps at a fractional stride, rounded half-to-even. The fractional
 *    index is accumulated by repeated addition exactly like the reference, so ties land identically.
 */
export function spaceTimesteps(T: number, timestepRespacing: string): number[] {
  if (!Number.isInteger(T) || T < 1) throw new Error(`diffusion steps must be a positive integer (got ${T})`);
  const spec = timestepRespacing.trim();
  if (spec === '') return Array.from({ length: T }, (_, i) => i);
  if (spec.startsWith('ddim')) {
    const desired = parseCount(spec.slice(4), 'step count', spec);
    // A sampler needs 1..T steps: 0 would never run, more than T cannot exist.
    if (desired < 1) throw new Error(`bad timestep respacing "${spec}": it asks for 0 sampling steps (need at least 1)`);
    if (desired > T) {
      throw new Error(`bad timestep respacing "${spec}": no integer stride gives exactly ${desired} steps out of ${T} (more steps than the process has)`);
    }
    // ceil(T / stride) only shrinks as the stride grows: stop once it is below the wish.
    for (let stride = 1; stride < T && Math.ceil(T / stride) >= desired; stride++) {
      if (Math.ceil(T / stride) === desired) return Array.from({ length: desired }, (_, k) => k * stride);
    }
    throw new Error(`bad timestep respacing "${spec}": no integer stride gives exactly ${desired} steps out of ${T}`);
  }
  const counts = spec.split(',').map((s) => parseCount(s, 'section count', spec));
  const sizePer = Math.floor(T / counts.length);
  const extra = T % counts.length;
  const kept: number[] = [];
  let start = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (count < 1) throw new Error(`bad timestep respacing "${spec}": section ${i} asks for ${count} steps (need at least 1)`);
    if (count > size) {
      throw new Error(`bad timestep respacing "${spec}": section ${i} has only ${size} of the ${T} steps and cannot keep ${count}`);
    }
    const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0;
    for (let k = 0; k < count; k++) {
      kept.push(start + roundHalfEven(cur));
      cur += fracStride;
    }
    start += size;
  });
  // Sections never overlap and strides are >= 1, but dedupe/sort anyway: the reference returns a set.
  return [...new Set(kept)].sort((a, b) => a - b);
}

/**
 * Betas of the respaced process: for each kept t (ascending), 1 - ᾱ_t / ᾱ_prevKept with ᾱ starting at 1.
 * Also returns `timestepMap` (respaced index -> original timestep). Note even with all steps kept these
 * betas differ from the originals in the last bits, as in the reference.
 */
export function respaceBetas(
  alphasCumprod: Float64Array,
  useTimesteps: readonly number[],
): { betas: Float64Array; timestepMap: Int32Array } {
  const keep = new Set(useTimesteps);
  const betas: number[] = [];
  const map: number[] = [];
  let last = 1.0;
  for (let t = 0; t < alphasCumprod.length; t++) {
    if (!keep.has(t)) continue;
    betas.push(1 - alphasCumprod[t] / last);
    last = alphasCumprod[t];
    map.push(t);
  }
  if (map.length !== keep.size) throw new Error(`respacing keeps timesteps outside 0..${alphasCumprod.length - 1}`);
  return { betas: Float64Array.from(betas), timestepMap: Int32Array.from(map) };
}
