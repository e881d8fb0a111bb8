// What the restricted unpickler builds: plain Python data (None, bools, numbers, strings, bytes,
// lists, tuples, dicts, sets) plus the few torch objects a checkpoint needs (see torch.ts). Python
// ints beyond 2^53 become bigints; floats and other ints are numbers.
import { damaged } from './errors';

/** A value from the torch layer (a storage, a tensor, an allowed global). */
export abstract class HostValue {
  /** Shown in messages, e.g. "tensor" or "collections.OrderedDict". */
  abstract describe(): string;
  /** Values this one refers to (for the nesting check). */
  children(): readonly PyValue[] {
    return [];
  }
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyList | PyTuple | PyDict | PySet | HostValue;

export class PyList {
  readonly items: PyValue[];
  constructor(items: PyValue[]) {
    this.items = items;
  }
}

export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = items;
  }
}

export class PySet {
  readonly frozen: boolean;
  readonly items: PyValue[];
  constructor(frozen: boolean, items: PyValue[]) {
    this.frozen = frozen;
    this.items = items;
  }
}

/** dict or collections.OrderedDict: insertion-ordered; a later SETITEM of an equal key replaces the value in place. */
export class PyDict {
  private readonly index = new Map<string, number>();
  readonly keys: PyValue[] = [];
  readonly values: PyValue[] = [];
  /** Attributes set by BUILD (an OrderedDict's `_metadata`). */
  readonly attrs = new Map<string, PyValue>();
  readonly ordered: boolean;
  constructor(ordered: boolean) {
    this.ordered = ordered;
  }

  get size(): number {
    return this.keys.length;
  }

  set(key: PyValue, value: PyValue): void {
    const k = hashKey(key);
    const at = this.index.get(k);
    if (at !== undefined) {
      this.values[at] = value;
    } else {
      this.index.set(k, this.keys.length);
      this.keys.push(key);
      this.values.push(value);
    }
  }

  get(key: PyValue): PyValue | undefined {
    const at = this.index.get(hashKey(key));
    return at === undefined ? undefined : this.values[at];
  }
}

const MAX_KEY_CHARS = 1 << 16;

/** Python's dict-key equality for the hashable plain values (1 == 1.0 == True); tuples of them too. */
function hashKey(key: PyValue): string {
  if (key instanceof PyTuple) {
    let s = 't';
    for (const item of key.items) {
      if (item instanceof PyTuple) throw damaged('its pickle uses a nested tuple as a dict key, which torch.save never writes');
      s += `,${hashKey(item)}`;
      if (s.length > MAX_KEY_CHARS) throw damaged('its pickle uses an absurdly long tuple as a dict key');
    }
    return s;
  }
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number' || typeof key === 'bigint') return `n${key}`;
  if (typeof key === 'boolean') return key ? 'n1' : 'n0';
  if (key === null) return 'N';
  if (key instanceof Uint8Array) return `b${Array.from(key, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  if (key instanceof PySet && key.frozen) throw damaged('its pickle uses a frozenset as a dict key, which torch.save never writes');
  throw damaged(`its pickle uses an unhashable ${typeName(key)} as a dict key`);
}

export function typeName(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyList) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  return v.describe();
}

function childrenOf(v: PyValue): readonly PyValue[] {
  if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) return v.items;
  if (v instanceof PyDict) return [...v.keys, ...v.values, ...v.attrs.values()];
  if (v instanceof HostValue) return v.children();
  return [];
}

/**
 * Refuses structures nested deeper than `maxDepth` or containing themselves. Iterative (no recursion,
 * so no stack overflow) and linear: each container's depth is computed once, however often it is shared.
 */
export function checkNesting(root: PyValue, maxDepth: number): void {
  const depth = new Map<object, number>(); // -1 while on the current path
  const stack: { node: object; kids: readonly PyValue[]; next: number; max: number }[] = [];
  const enter = (v: PyValue): number | null => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return 0;
    const known = depth.get(v);
    if (known === -1) throw damaged('its pickle holds a container that contains itself, which torch.save never writes');
    if (known !== undefined) return known;
    depth.set(v, -1);
    stack.push({ node: v, kids: childrenOf(v), next: 0, max: 0 });
    if (stack.length > maxDepth) throw damaged(`its pickle nests containers more than ${maxDepth} deep`);
    return null;
  };
  if (enter(root) !== null) return;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.kids.length) {
      const d = enter(top.kids[top.next++]);
      if (d !== null) top.max = Math.max(top.max, d);
      continue;
    }
    stack.pop();
    const d = top.max + 1;
    if (d > maxDepth) throw damaged(`its pickle nests containers more than ${maxDepth} deep`);
    depth.set(top.node, d);
    if (stack.length > 0) stack[stack.length - 1].max = Math.max(stack[stack.length - 1].max, d);
  }
}
