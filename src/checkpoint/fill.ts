// Filling a template's external-data files from a checkpoint (docs/pack-format.md, "Filling a template"):
// the bytes `adm/template_fill.py` writes, in TypeScript. Each [key, offset, bytes, dtype] of a data file
// gets the checkpoint tensor's little-endian values at `offset`: verbatim for "float32", else each value
// rounded to IEEE binary16 (nearest, ties to even: numpy's astype(float16)). Every other byte is zero.
// Pure: the caller hands in a reader of tensors; one data file is in memory at a time.
import { damaged } from './errors';
import type { TensorEntry } from './stateDict';

/** One [key, offset, bytes, stored dtype] of a template's data file. */
export type FillItem = readonly [key: string, offset: number, bytes: number, dtype: 'float32' | 'float16'];

/** A template graph's external-data file: its name, size and the tensors it holds, by offset. */
export interface FillPlan {
  readonly file: string;
  readonly bytes: number;
  readonly tensors: readonly FillItem[];
}

/** float32 bit pattern -> binary16 bit pattern, rounding to nearest, ties to even (infinity past 65504). */
export function float32ToFloat16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const rawExp = (f >>> 23) & 0xff;
  const frac = f & 0x7fffff;
  if (rawExp === 0xff) return sign | (frac ? 0x7e00 : 0x7c00);
  if (rawExp === 0) return sign; // zeros and float32 subnormals (< 2^-126) round to zero
  const exp = rawExp - 127;
  if (exp > 15) return sign | 0x7c00;
  const mant = frac | 0x800000;
  // low bits of the 24-bit significand that drop out: 13 for normal halves, more below 2^-14 (at most 25)
  const drop = exp >= -14 ? 13 : Math.min(-1 - exp, 25);
  let kept = mant >>> drop;
  const rest = mant & ((1 << drop) - 1);
  const half = 1 << (drop - 1);
  if (rest > half || (rest === half && (kept & 1) === 1)) kept += 1;
  // normal: the exponent field on top of the fraction (kept still has its leading 1, one exponent step);
  // a carry out of the fraction moves up the exponent and past 65504 lands exactly on infinity
  const out = exp >= -14 ? Math.min(((exp + 14) << 10) + kept, 0x7c00) : kept;
  return sign | out;
}

/** Little-endian float32 bytes -> little-endian float16 bytes (into `out`, half as long). */
export function castFloat16(src: Uint8Array, out: Uint8Array): void {
  const n = src.length >> 2;
  if (out.length !== n * 2 || src.length !== n * 4) throw new RangeError('castFloat16: sizes disagree');
  const view = new DataView(src.buffer, src.byteOffset, src.length);
  const dst = new DataView(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < n; i++) dst.setUint16(2 * i, float32ToFloat16Bits(view.getUint32(4 * i, true)), true);
}

/** Index of the first NaN or infinite float32 in `bytes` (little-endian), or -1. */
export function firstNonFinite(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i + 4 <= bytes.length; i += 4) if (((view.getUint32(i, true) >>> 23) & 0xff) === 0xff) return i >> 2;
  return -1;
}

/** Checks a template data file's plan against the checkpoint's tensors before any byte is read. */
export function checkPlan(plan: FillPlan, tensors: ReadonlyMap<string, TensorEntry>): void {
  let end = 0;
  for (const [key, offset, bytes, dtype] of plan.tensors) {
    const t = tensors.get(key);
    if (!t) throw damaged(`it has no tensor ${JSON.stringify(key)}, which ${plan.file} needs`);
    if (t.dtype !== 'float32') throw damaged(`${JSON.stringify(key)} is ${t.dtype}; the page fills float32 checkpoints only`);
    const want = dtype === 'float16' ? t.numel * 2 : t.numel * 4;
    if (bytes !== want || offset < end || offset + bytes > plan.bytes) {
      throw damaged(`${JSON.stringify(key)} does not fit ${plan.file}'s layout (${bytes} bytes at ${offset}; the tensor gives ${want})`);
    }
    end = offset + bytes;
  }
}

/** Reads one tensor's raw bytes (readTensor with its source and index bound). */
export type TensorReader = (t: TensorEntry) => Promise<Uint8Array>;

/**
 * Fills `into` (plan.bytes long, zeroed) with the plan's tensors, one read at a time. Refuses NaN and
 * infinity, as `npm run convert` does. `onTensor` sees the bytes written so far (progress).
 */
export async function fillDataFile(
  plan: FillPlan,
  tensors: ReadonlyMap<string, TensorEntry>,
  read: TensorReader,
  into: Uint8Array,
  onTensor?: (done: number, key: string) => void,
  clock?: { read(ms: number): void; fill(ms: number): void },
): Promise<void> {
  if (into.length !== plan.bytes) throw new RangeError(`${plan.file}: a buffer of ${into.length} bytes for ${plan.bytes}`);
  checkPlan(plan, tensors);
  for (const [key, offset, bytes, dtype] of plan.tensors) {
    const t = tensors.get(key)!;
    let t0 = performance.now();
    const raw = await read(t);
    clock?.read(performance.now() - t0);
    t0 = performance.now();
    const bad = firstNonFinite(raw);
    if (bad >= 0) throw damaged(`${JSON.stringify(key)} holds a NaN or infinite value (element ${bad}); the page (like npm run convert) refuses such checkpoints`);
    const dst = into.subarray(offset, offset + bytes);
    if (dtype === 'float32') dst.set(raw);
    else castFloat16(raw, dst);
    clock?.fill(performance.now() - t0);
    onTensor?.(offset + bytes, key);
  }
}
