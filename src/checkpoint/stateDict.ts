// From the unpickled object to the flat state dict the page maps byte by byte. Wrappers are those
// `npm run convert` accepts (adm/convert_input.py: a flat dict of tensors, or one under 'state_dict' or
// 'model'; a 'module.' prefix on every key is dropped). Each tensor must be its storage record
// exactly: offset 0, contiguous, all of the record, and no other tensor on the same record.
import { damaged, dims, quoted } from './errors';
import { DTYPE_BYTES, TensorRef, type TorchDtype } from './torch';
import { PyDict, typeName, type PyValue } from './values';

export const WRAPPER_KEYS = ['state_dict', 'model'] as const;
export type Wrapper = (typeof WRAPPER_KEYS)[number];

export interface TensorEntry {
  /** State-dict key (after unwrapping and dropping a 'module.' prefix). */
  readonly key: string;
  readonly dtype: TorchDtype;
  /** [] for a 0-d tensor. */
  readonly shape: readonly number[];
  readonly numel: number;
  /** Absolute offset of the first byte in the file. */
  readonly byteOffset: number;
  /** numel × element size: the whole storage record. */
  readonly byteLength: number;
  /** The record's name below the archive folder, e.g. "data/12". */
  readonly record: string;
  /** The record's CRC-32 from the zip directory (readTensor checks it). */
  readonly crc32: number;
}

export interface StateDictView {
  wrapper: Wrapper | null;
  strippedPrefix: 'module.' | null;
  tensors: TensorEntry[];
}

const isStateDict = (v: PyValue | undefined): v is PyDict =>
  v instanceof PyDict && v.size > 0 && v.keys.every((k) => typeof k === 'string') && v.values.every((x) => x instanceof TensorRef);

function describeKeys(d: PyDict): string {
  return d.keys.slice(0, 8).map((k) => (typeof k === 'string' ? quoted(k) : typeName(k))).join(', ');
}

function unwrap(root: PyValue): { dict: PyDict; wrapper: Wrapper | null } {
  if (isStateDict(root)) return { dict: root, wrapper: null };
  if (root instanceof PyDict) {
    for (const w of WRAPPER_KEYS) {
      const inner = root.get(w);
      if (isStateDict(inner)) return { dict: inner, wrapper: w };
    }
    throw damaged(`it holds a dict that is not a state dict (top-level keys: ${describeKeys(root)}); expected a flat mapping `
      + `of parameter names to tensors as in the official .pt files, or one wrapped under ${WRAPPER_KEYS.map((w) => `'${w}'`).join(' or ')}`);
  }
  throw damaged(`it does not contain a state dict (found ${typeName(root)}); expected a mapping of parameter names to tensors as in the official .pt files`);
}

const CONTIGUOUS_HINT = 'save the weights as separate contiguous tensors ({k: v.contiguous().clone() for k, v in sd.items()}) or convert the file with npm run convert';

/** torch's is_contiguous: row-major strides, ignoring dimensions of size 1; empty tensors always are. */
function isContiguous(t: TensorRef): boolean {
  if (t.numel === 0) return true;
  let expected = 1;
  for (let i = t.shape.length - 1; i >= 0; i--) {
    if (t.shape[i] === 1) continue;
    if (t.stride[i] !== expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

export function stateDictEntries(root: PyValue): StateDictView {
  const { dict, wrapper } = unwrap(root);
  const keys = dict.keys as string[];
  const strip = keys.every((k) => k.startsWith('module.'));
  const owners = new Map<object, { key: string; tensor: TensorRef }>();
  const tensors = keys.map((rawKey, i): TensorEntry => {
    const key = strip ? rawKey.slice('module.'.length) : rawKey;
    const t = dict.values[i] as TensorRef;
    const s = t.storage;
    const shape = dims(t.shape);
    if (t.offset !== 0 || t.numel !== s.numel) {
      throw damaged(`the tensor ${quoted(key)} ${shape} is a view into a larger storage record (data/${s.key}: offset ${t.offset}, `
        + `${t.numel} of ${s.numel} elements), which the page cannot map directly; ${CONTIGUOUS_HINT}`);
    }
    if (!isContiguous(t)) {
      throw damaged(`the tensor ${quoted(key)} ${shape} is not contiguous (stride ${dims(t.stride)}), which the page `
        + `cannot map directly; ${CONTIGUOUS_HINT}`);
    }
    const owner = owners.get(s);
    if (owner && owner.tensor !== t) {
      throw damaged(`the tensors ${quoted(owner.key)} and ${quoted(key)} share one storage record (data/${s.key}), `
        + `which the page cannot map directly; ${CONTIGUOUS_HINT}`);
    }
    owners.set(s, { key, tensor: t });
    return {
      key, dtype: s.dtype, shape: [...t.shape], numel: t.numel, byteOffset: s.record.dataOffset,
      byteLength: t.numel * DTYPE_BYTES[s.dtype], record: `data/${s.key}`, crc32: s.record.crc32,
    };
  });
  return { wrapper, strippedPrefix: strip ? 'module.' : null, tensors };
}
