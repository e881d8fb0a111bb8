// A restricted unpickler. It runs the pickle virtual machine over an in-memory data.pkl with an
// allow-list of opcodes: every data opcode of protocols 0-5, GLOBAL/STACK_GLOBAL resolved through the
// host's allow-list at once, REDUCE/NEWOBJ/INST/OBJ only on what the host resolved, BUILD and
// BINPERSID through the host. Copyreg extension codes (EXT1/2/4), text persistent ids and
// out-of-band buffers are refused. Every opcode consumes at least one byte and pushes at most one
// value, so the stack, the memo and everything built are bounded by the pickle's length.
import { damaged, unsafe } from './errors';
import { HostValue, PyDict, PyList, PySet, PyTuple, typeName, type PyValue } from './values';
import { decodeEscaped, decodeRawUnicodeEscape, parsePyFloat, parsePyInt } from './pickleText';

export interface PickleHost {
  /** An allowed global, or throws an unsafe refusal naming it. */
  global(module: string, name: string): HostValue;
  /** Calls an allowed global (REDUCE, INST, OBJ; `fresh` for NEWOBJ, i.e. cls.__new__(cls, *args)). */
  call(fn: HostValue, args: readonly PyValue[], fresh: boolean): PyValue;
  /** BINPERSID: the object a persistent id names (torch: a storage record). */
  persistentLoad(pid: PyValue): PyValue;
  /** BUILD: set `state` on `target` (torch: only OrderedDict attributes). */
  build(target: PyValue, state: PyValue): void;
}

const MAX_INT_BYTES = 1 << 16;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

class Reader {
  pos = 0;
  private readonly view: DataView;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): number {
    if (!(n >= 0) || this.pos + n > this.bytes.length) throw damaged('its pickle (data.pkl) ends in the middle of an opcode (truncated or corrupt?)');
    const at = this.pos;
    this.pos += n;
    return at;
  }
  take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  u8(): number { return this.bytes[this.need(1)]; }
  u16(): number { return this.view.getUint16(this.need(2), true); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  i32(): number { return this.view.getInt32(this.need(4), true); }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    return v > BigInt(this.bytes.length) ? Infinity : Number(v); // longer than the pickle: need() refuses it
  }
  f64be(): number { return this.view.getFloat64(this.need(8), false); }
  /** A protocol-0 argument: the bytes up to the next newline (without it). */
  line(): Uint8Array {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw damaged('its pickle (data.pkl) ends in the middle of an opcode (truncated or corrupt?)');
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return out;
  }
}

function text(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw damaged(`its pickle holds a ${what} that is not valid UTF-8`);
  }
}

/** Little-endian two's-complement integer of any length (LONG1/LONG4). */
function longInt(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  if (b.length > MAX_INT_BYTES) throw damaged(`its pickle holds an absurdly large integer (${b.length} bytes)`);
  let hex = '';
  for (let i = b.length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
  let v = BigInt(`0x${hex}`);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

function asGlobal(v: PyValue, op: string): HostValue {
  if (!(v instanceof HostValue)) throw damaged(`its pickle's ${op} calls a ${typeName(v)}, which cannot be called`);
  return v;
}

function tupleItems(v: PyValue, what: string): readonly PyValue[] {
  if (!(v instanceof PyTuple)) throw damaged(`its pickle gives ${what} a ${typeName(v)} instead of a tuple`);
  return v.items;
}

/** Runs data.pkl and returns the object it describes. */
export function unpickle(data: Uint8Array, host: PickleHost): PyValue {
  const r = new Reader(data);
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  const memo = new Map<number, PyValue>();
  // `push(f())` reads `stack` after f() ran, which matters when f closes a MARK (stack.push(f()) would not).
  const push = (v: PyValue) => {
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) throw damaged('its pickle pops from an empty stack (corrupt data.pkl)');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) throw damaged('its pickle reads from an empty stack (corrupt data.pkl)');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) throw damaged('its pickle closes a MARK it never opened (corrupt data.pkl)');
    stack = prev;
    return items;
  };
  const get = (i: number): PyValue => {
    const v = memo.get(i);
    if (v === undefined) throw damaged(`its pickle reads memo entry ${i}, which was never stored (corrupt data.pkl)`);
    return v;
  };
  const put = (i: number) => memo.set(i, top());
  const setItems = (d: PyValue, items: PyValue[]) => {
    if (!(d instanceof PyDict)) throw damaged(`its pickle sets items on a ${typeName(d)}`);
    if (items.length % 2) throw damaged('its pickle sets a key without a value (corrupt data.pkl)');
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  };
  const append = (l: PyValue, items: PyValue[]) => {
    if (!(l instanceof PyList)) throw damaged(`its pickle appends to a ${typeName(l)}`);
    for (const v of items) l.items.push(v);
  };
  const globalOf = (module: string, name: string) => host.global(module, name);

  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = r.u8();
        if (v > 5) throw damaged(`its pickle uses protocol ${v}, newer than any Python writes`);
        break;
      }
      case 0x95: // FRAME: a length prefix only; the opcodes inside are read as usual
        r.u64();
        break;
      case 0x2e: // STOP
        if (marks.length) throw damaged('its pickle stops inside an open MARK (corrupt data.pkl)');
        return pop();
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      // --- numbers, None, bools
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(r.i32()); break; // BININT
      case 0x4b: push(r.u8()); break; // BININT1
      case 0x4d: push(r.u16()); break; // BININT2
      case 0x8a: push(longInt(r.take(r.u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = r.i32();
        if (n < 0) throw damaged('its pickle holds an integer of negative length (corrupt data.pkl)');
        push(longInt(r.take(n)));
        break;
      }
      case 0x49: { // INT (protocol 0; "I01"/"I00" are True/False)
        const s = latin1.decode(r.line());
        push(s === '01' ? true : s === '00' ? false : parsePyInt(s));
        break;
      }
      case 0x4c: push(parsePyInt(latin1.decode(r.line()).replace(/L$/, ''))); break; // LONG
      case 0x47: push(r.f64be()); break; // BINFLOAT
      case 0x46: push(parsePyFloat(latin1.decode(r.line()))); break; // FLOAT
      // --- strings and bytes (torch.load decodes Python 2 strings as UTF-8)
      case 0x58: push(text(r.take(r.u32()), 'string')); break; // BINUNICODE
      case 0x8c: push(text(r.take(r.u8()), 'string')); break; // SHORT_BINUNICODE
      case 0x8d: push(text(r.take(r.u64()), 'string')); break; // BINUNICODE8
      case 0x56: push(decodeRawUnicodeEscape(r.line())); break; // UNICODE
      case 0x54: { // BINSTRING
        const n = r.i32();
        if (n < 0) throw damaged('its pickle holds a string of negative length (corrupt data.pkl)');
        push(text(r.take(n), 'string'));
        break;
      }
      case 0x55: push(text(r.take(r.u8()), 'string')); break; // SHORT_BINSTRING
      case 0x53: push(text(decodeEscaped(r.line()), 'string')); break; // STRING
      case 0x42: push(r.take(r.u32())); break; // BINBYTES
      case 0x43: push(r.take(r.u8())); break; // SHORT_BINBYTES
      case 0x8e: push(r.take(r.u64())); break; // BINBYTES8
      case 0x96: push(r.take(r.u64())); break; // BYTEARRAY8
      // --- containers
      case 0x5d: push(new PyList([])); break; // EMPTY_LIST
      case 0x7d: push(new PyDict(false)); break; // EMPTY_DICT
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x8f: push(new PySet(false, [])); break; // EMPTY_SET
      case 0x6c: push(new PyList(popMark())); break; // LIST
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x64: { const d = new PyDict(false); setItems(d, popMark()); push(d); break; } // DICT
      case 0x91: push(new PySet(true, popMark())); break; // FROZENSET
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet) || s.frozen) throw damaged(`its pickle adds set items to a ${typeName(s)}`);
        for (const v of items) s.items.push(v);
        break;
      }
      // --- memo
      case 0x70: put(parseMemoIndex(r.line())); break; // PUT
      case 0x71: put(r.u8()); break; // BINPUT
      case 0x72: put(r.u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x67: push(get(parseMemoIndex(r.line()))); break; // GET
      case 0x68: push(get(r.u8())); break; // BINGET
      case 0x6a: push(get(r.u32())); break; // LONG_BINGET
      // --- objects: only through the host's allow-list
      case 0x63: { // GLOBAL
        const module = latin1.decode(r.line());
        push(globalOf(module, latin1.decode(r.line())));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw damaged('its pickle names a global with non-strings');
        push(globalOf(module, name));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); push(host.call(asGlobal(fn, 'REDUCE'), tupleItems(args, 'REDUCE'), false)); break; }
      case 0x81: { const args = pop(); const cls = pop(); push(host.call(asGlobal(cls, 'NEWOBJ'), tupleItems(args, 'NEWOBJ'), true)); break; }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof PyDict) || kwargs.size > 0) throw damaged('its pickle passes keyword arguments to a constructor');
        push(host.call(asGlobal(cls, 'NEWOBJ_EX'), tupleItems(args, 'NEWOBJ_EX'), true));
        break;
      }
      case 0x69: { // INST
        const module = latin1.decode(r.line());
        const cls = globalOf(module, latin1.decode(r.line()));
        push(host.call(cls, popMark(), false));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) throw damaged('its pickle builds an object without a class (corrupt data.pkl)');
        push(host.call(asGlobal(items[0], 'OBJ'), items.slice(1), false));
        break;
      }
      case 0x62: { const state = pop(); host.build(top(), state); break; } // BUILD
      case 0x51: push(host.persistentLoad(pop())); break; // BINPERSID
      case 0x50: throw damaged('its pickle uses a text persistent id, which torch.save never writes');
      case 0x82: case 0x83: case 0x84:
        throw unsafe('its pickle uses copyreg extension codes (EXT1/EXT2/EXT4), which torch.save never writes and which can name any Python object');
      case 0x97: case 0x98:
        throw damaged('its pickle refers to out-of-band buffers, which torch.save never writes');
      default:
        throw damaged(`its pickle uses the unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${r.pos - 1} (corrupt data.pkl)`);
    }
  }
}

function parseMemoIndex(line: Uint8Array): number {
  const s = latin1.decode(line);
  if (!/^\d{1,10}$/.test(s)) throw damaged('its pickle has a malformed memo index (corrupt data.pkl)');
  return Number(s);
}
