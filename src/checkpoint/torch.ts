// The torch side of the unpickler: the allow-list of globals, storages named by persistent ids, and
// the rebuild functions, with torch's own consistency rules (sizes and strides non-negative, the
// tensor inside its storage) plus two of ours: a storage's record is exactly numel × element size, and
// no tensor claims more bytes than the whole file has (a stride-0 tensor of 10^12 elements would).
import { damaged, dims, quoted, shown, unsafe } from './errors';
import type { PickleHost } from './pickle';
import { HostValue, PyDict, PyList, PyTuple, typeName, type PyValue } from './values';
import type { ZipEntry } from './zip';

export type TorchDtype = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8'
  | 'uint8' | 'bool' | 'complex64' | 'complex128';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<TorchDtype, number>> = Object.freeze({
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
  complex64: 8, complex128: 16,
});

const STORAGE_TYPES: Readonly<Record<string, TorchDtype>> = {
  DoubleStorage: 'float64', FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8',
  BoolStorage: 'bool', ComplexFloatStorage: 'complex64', ComplexDoubleStorage: 'complex128',
};

// torch attributes that are dtypes (a checkpoint may store one as plain data, e.g. {'dtype': torch.float16}).
const DTYPE_NAMES = new Set(['float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int8', 'int16',
  'short', 'int32', 'int', 'int64', 'long', 'uint8', 'bool', 'complex32', 'chalf', 'complex64', 'cfloat', 'complex128',
  'cdouble', 'qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4']);

const CALLABLE = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter', 'torch.nn.parameter.Parameter', 'torch.Size', 'torch.serialization._get_layout']);

/** An allowed global: a callable, a dtype, a layout or a storage type. */
export class TorchGlobal extends HostValue {
  readonly qualname: string;
  /** For storage types (torch.FloatStorage, ...): their dtype. */
  readonly storageDtype: TorchDtype | null;
  constructor(qualname: string, storageDtype: TorchDtype | null = null) {
    super();
    this.qualname = qualname;
    this.storageDtype = storageDtype;
  }
  describe(): string {
    return this.qualname;
  }
}

/** One storage record (`data/<key>`), shared by every persistent id that names the key. */
export class StorageRef extends HostValue {
  readonly key: string;
  readonly dtype: TorchDtype;
  readonly numel: number;
  readonly record: ZipEntry;
  constructor(key: string, dtype: TorchDtype, numel: number, record: ZipEntry) {
    super();
    this.key = key;
    this.dtype = dtype;
    this.numel = numel;
    this.record = record;
  }
  describe(): string {
    return 'storage';
  }
}

export interface TensorFields {
  storage: StorageRef;
  offset: number;
  shape: readonly number[];
  stride: readonly number[];
  numel: number;
  requiresGrad: boolean;
  isParameter: boolean;
}

export class TensorRef extends HostValue {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly numel: number;
  readonly requiresGrad: boolean;
  readonly isParameter: boolean;
  constructor(f: TensorFields) {
    super();
    this.storage = f.storage;
    this.offset = f.offset;
    this.shape = f.shape;
    this.stride = f.stride;
    this.numel = f.numel;
    this.requiresGrad = f.requiresGrad;
    this.isParameter = f.isParameter;
  }
  describe(): string {
    return this.isParameter ? 'Parameter' : 'tensor';
  }
  children(): readonly PyValue[] {
    return [this.storage];
  }
}

function ints(v: PyValue, what: string): number[] {
  const items = v instanceof PyTuple || v instanceof PyList ? v.items : null;
  if (!items) throw damaged(`its pickle gives a tensor ${what} that is a ${typeName(v)}, not a tuple of integers`);
  return items.map((x) => {
    if (typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x) && !Number.isSafeInteger(x))) {
      throw damaged(`its pickle gives a tensor ${what} with an entry beyond 2^53 (${x})`);
    }
    if (typeof x !== 'number' || !Number.isInteger(x)) throw damaged(`its pickle gives a tensor ${what} with a non-integer entry (${typeName(x)})`);
    if (x < 0) throw damaged(`its pickle gives a tensor a negative ${what} entry (${x}), which torch refuses`);
    return x;
  });
}

export interface TorchHostOptions {
  /** Zip entries by their name below the archive folder ("data/0"). */
  records: ReadonlyMap<string, ZipEntry>;
  fileSize: number;
}

export function torchHost({ records, fileSize }: TorchHostOptions): PickleHost {
  const storages = new Map<string, StorageRef>();

  function tensor(storage: PyValue, offset: PyValue, size: PyValue, stride: PyValue, requiresGrad: PyValue): TensorRef {
    if (!(storage instanceof StorageRef)) throw damaged(`its pickle rebuilds a tensor from a ${typeName(storage)} instead of a storage`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw damaged('its pickle gives a tensor an invalid storage offset');
    if (typeof requiresGrad !== 'boolean') throw damaged('its pickle gives a tensor a requires_grad that is not a bool');
    const shape = ints(size, 'size');
    const strides = ints(stride, 'stride');
    if (shape.length !== strides.length) throw damaged(`its pickle gives a tensor ${shape.length} sizes but ${strides.length} strides`);
    // numel and the last element's position, refused as soon as either leaves the file or the storage
    // (both are below 2^53, so nothing here loses precision before it is refused).
    const empty = shape.includes(0);
    let numel = 1;
    let last = offset;
    for (let i = 0; i < shape.length && !empty; i++) {
      numel *= shape[i];
      last += (shape[i] - 1) * strides[i];
      if (numel * DTYPE_BYTES[storage.dtype] > fileSize) {
        throw damaged(`its pickle gives a tensor the shape ${dims(shape)}, more elements than the whole file could hold`);
      }
      if (last >= storage.numel) break;
    }
    if (!empty && last >= storage.numel) {
      throw damaged(`its pickle gives a tensor of shape ${dims(shape)} and stride ${dims(strides)} that reaches `
        + `past the end of its storage record data/${storage.key} (${storage.numel} elements)`);
    }
    if (empty) numel = 0;
    return new TensorRef({ storage, offset, shape, stride: strides, numel, requiresGrad, isParameter: false });
  }

  function emptyHooks(v: PyValue | undefined): void {
    if (v !== null && v !== undefined && !(v instanceof PyDict && v.size === 0)) throw damaged('its pickle attaches backward hooks to a tensor');
  }

  function parameter(data: PyValue, requiresGrad: PyValue): TensorRef {
    if (!(data instanceof TensorRef)) throw damaged(`its pickle makes a Parameter of a ${typeName(data)}`);
    if (typeof requiresGrad !== 'boolean') throw damaged('its pickle gives a Parameter a requires_grad that is not a bool');
    return new TensorRef({ ...data, requiresGrad, isParameter: true });
  }

  function orderedDict(args: readonly PyValue[]): PyDict {
    const d = new PyDict(true);
    if (args.length === 0) return d;
    const src = args[0];
    if (args.length === 1 && src instanceof PyDict) {
      src.keys.forEach((k, i) => d.set(k, src.values[i]));
      return d;
    }
    if (args.length === 1 && (src instanceof PyList || src instanceof PyTuple)) {
      for (const pair of src.items) {
        const kv = pair instanceof PyTuple || pair instanceof PyList ? pair.items : null;
        if (!kv || kv.length !== 2) throw damaged('its pickle fills an OrderedDict with something other than pairs');
        d.set(kv[0], kv[1]);
      }
      return d;
    }
    throw damaged('its pickle calls OrderedDict with unexpected arguments');
  }

  return {
    global(module, name) {
      const q = `${module}.${name}`;
      if (module === 'torch' && name in STORAGE_TYPES) return new TorchGlobal(q, STORAGE_TYPES[name]);
      if (CALLABLE.has(q) || (module === 'torch' && DTYPE_NAMES.has(name))) return new TorchGlobal(q);
      throw unsafe(`its pickle references the Python object ${shown(q)}; a checkpoint may only hold tensors, dtypes, OrderedDicts `
        + 'and plain data (dicts, lists, tuples, strings, numbers), since unpickling other objects can run code');
    },

    call(fn, args, fresh) {
      const q = fn instanceof TorchGlobal ? fn.qualname : fn.describe();
      const n = args.length;
      switch (q) {
        case 'collections.OrderedDict':
          return fresh ? new PyDict(true) : orderedDict(args);
        case 'torch._utils._rebuild_tensor_v2':
          if (fresh || (n !== 6 && n !== 7)) break;
          emptyHooks(args[5]);
          if (n === 7 && !(args[6] === null || (args[6] instanceof PyDict && args[6].size === 0))) {
            throw damaged('its pickle gives a tensor extra metadata (a tensor subclass or special layout)');
          }
          return tensor(args[0], args[1], args[2], args[3], args[4]);
        case 'torch._utils._rebuild_tensor':
          if (fresh || n !== 4) break;
          return tensor(args[0], args[1], args[2], args[3], false);
        case 'torch._utils._rebuild_parameter':
          if (fresh || n !== 3) break;
          emptyHooks(args[2]);
          return parameter(args[0], args[1]);
        case 'torch.nn.parameter.Parameter':
          if (n < 1 || n > 2) break;
          return parameter(args[0], n === 2 ? args[1] : true);
        case 'torch.Size':
          if (n !== 1) break;
          return new PyTuple(ints(args[0], 'size'));
        case 'torch.serialization._get_layout':
          if (fresh || n !== 1 || typeof args[0] !== 'string') break;
          return args[0];
        default:
          throw damaged(`its pickle calls ${shown(q)}, which cannot be called`);
      }
      throw damaged(`its pickle calls ${shown(q)} with ${n} unexpected arguments`);
    },

    persistentLoad(pid) {
      const t = pid instanceof PyTuple ? pid.items : [];
      const [tag, type, key, , numel] = t;
      if (t.length !== 5 || tag !== 'storage' || !(type instanceof TorchGlobal) || type.storageDtype === null
        || typeof key !== 'string' || typeof t[3] !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
        throw damaged('its pickle has a persistent id that is not a torch.save storage reference');
      }
      const dtype = type.storageDtype;
      const record = /^[A-Za-z0-9_]+$/.test(key) ? records.get(`data/${key}`) : undefined;
      if (!record) throw damaged(`its pickle refers to a storage record ${quoted(`data/${key}`)}, which the archive does not have`);
      const seen = storages.get(key);
      if (seen) {
        if (seen.dtype !== dtype || seen.numel !== numel) throw damaged(`its pickle describes the storage record data/${key} twice, differently`);
        return seen;
      }
      if (numel * DTYPE_BYTES[dtype] !== record.size) {
        throw damaged(`the storage record data/${key} holds ${record.size} bytes, but the pickle says ${numel} ${dtype} `
          + `elements (${numel * DTYPE_BYTES[dtype]} bytes)`);
      }
      const ref = new StorageRef(key, dtype, numel, record);
      storages.set(key, ref);
      return ref;
    },

    build(target, state) {
      if (!(target instanceof PyDict) || !target.ordered) {
        throw unsafe(`its pickle sets the state of a ${typeName(target)} object; only OrderedDicts may be built`);
      }
      const parts = state instanceof PyTuple && state.items.length === 2 ? state.items : [state];
      for (const part of parts) {
        if (part === null) continue;
        if (!(part instanceof PyDict)) throw damaged(`its pickle sets an OrderedDict's state from a ${typeName(part)}`);
        part.keys.forEach((k, i) => {
          if (typeof k !== 'string') throw damaged('its pickle sets an OrderedDict attribute whose name is not a string');
          target.attrs.set(k, part.values[i]);
        });
      }
    },
  };
}
