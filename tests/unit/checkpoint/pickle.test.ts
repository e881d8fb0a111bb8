// The restricted unpickler's data opcodes against Python's own pickler (plain data in protocols 0-5,
// from the fixture script), and the protocol-0 text forms and refusals written out by hand.
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, indexCheckpoint, bytesSource } from '../../../src/checkpoint';
import { Refusal } from '../../../src/checkpoint/errors';
import { unpickle } from '../../../src/checkpoint/pickle';
import { torchHost } from '../../../src/checkpoint/torch';
import { PyDict, PyList, PySet, PyTuple, type PyValue } from '../../../src/checkpoint/values';
import { torchArchives, type TorchArchives } from './fixtures';

let fx: TorchArchives;
beforeAll(async () => {
  fx = await torchArchives();
}, 300_000);

const host = () => torchHost({ records: new Map(), fileSize: 1000 });
const latin1 = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const run = (bytes: Uint8Array | string) => unpickle(typeof bytes === 'string' ? latin1(bytes) : bytes, host());
const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

/** The same tagged JSON the fixture script writes for Python's values. */
function toJson(v: PyValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { $int: v.toString() };
  if (typeof v === 'number') {
    if (Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) return v;
    return { $float: v };
  }
  if (v instanceof PyTuple) return { $tuple: v.items.map(toJson) };
  if (v instanceof PyList) return v.items.map(toJson);
  if (v instanceof PyDict) return { [v.ordered ? '$odict' : '$dict']: v.keys.map((k, i) => [toJson(k), toJson(v.values[i])]) };
  throw new Error(`unexpected ${String(v)}`);
}

/** Python's float reprs as numbers (the plain value holds no integral floats, which JavaScript cannot tell from ints). */
function floatsParsed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(floatsParsed);
  if (v && typeof v === 'object') {
    const [[tag, inner]] = Object.entries(v);
    return { [tag]: tag === '$float' ? Number(inner) : floatsParsed(inner) };
  }
  return v;
}

describe('plain data, every pickle protocol', () => {
  it.each([0, 1, 2, 3, 4, 5])('protocol %i gives what Python gives', (protocol) => {
    const c = fx.plain.find((p) => p.protocol === protocol)!;
    expect(toJson(run(hex(c.hex)))).toEqual(floatsParsed(c.value));
  });

  it('keeps one object for a memoized value referenced twice', () => {
    const c = fx.plain.find((p) => p.protocol === 2)!;
    const root = run(hex(c.hex)) as PyDict;
    const shared = root.get('shared') as PyList;
    expect(shared.items[0]).toBe(shared.items[1]);
  });
});

describe('protocol-0 text opcodes and rarer forms', () => {
  it('parses INT, LONG, FLOAT, STRING and UNICODE as Python does', () => {
    expect(run('I42\n.')).toBe(42);
    expect(run('I01\n.')).toBe(true);
    expect(run('I00\n.')).toBe(false);
    expect(run('I-0x1f\n.')).toBe(-31);
    expect(run('L123456789012345678901234567890L\n.')).toBe(123456789012345678901234567890n);
    expect(run('F-1.25e3\n.')).toBe(-1250);
    expect(run('Finf\n.')).toBe(Infinity);
    expect(Number.isNaN(run('Fnan\n.'))).toBe(true);
    expect(run("S'a\\x41\\101\\n\\'\\q'\n.")).toBe("aAA\n'\\q");
    expect(run('S"x"\n.')).toBe('x');
    expect(run('Vcaf\\u00e9 \\U0001f600 \\\\u0041\n.')).toBe('café 😀 \\\\u0041');
    expect(run(hex('800295' + '0a00000000000000' + '8c0361626394' + '2e'))).toBe('abc'); // FRAME, SHORT_BINUNICODE, MEMOIZE
  });

  it('builds sets, frozensets and OrderedDicts through NEWOBJ, OBJ and INST', () => {
    const s = run(hex('80048f284b014b0290' + '2e')) as PySet;
    expect(s.frozen).toBe(false);
    expect(s.items).toEqual([1, 2]);
    expect((run(hex('8004284b0391' + '2e')) as PySet).frozen).toBe(true);
    const od = run('ccollections\nOrderedDict\n)\x81}(X\x01\x00\x00\x00ak\x01ub.'.replace('k\x01', 'K\x01'));
    expect(od).toBeInstanceOf(PyDict);
    expect((od as PyDict).ordered).toBe(true);
    expect((od as PyDict).attrs.get('a')).toBe(1); // BUILD sets an attribute, as for _metadata
    expect(run('(ccollections\nOrderedDict\no.')).toBeInstanceOf(PyDict);
    expect(run('(icollections\nOrderedDict\n.')).toBeInstanceOf(PyDict);
    expect(toJson(run('ctorch\nSize\n((K\x02K\x03ttR.'))).toEqual({ $tuple: [2, 3] });
    expect(run('ctorch.serialization\n_get_layout\n(X\x0d\x00\x00\x00torch.stridedtR.')).toBe('torch.strided');
  });

  it.each([
    ['protocol 6', '\x80\x06.', /protocol 6/, false],
    ['text persistent id', 'P1\n.', /text persistent id/, false],
    ['out-of-band buffer', '\x80\x05\x97.', /out-of-band buffers/, false],
    ['unknown opcode', '\xff.', /unknown opcode 0xff at byte 0/, false],
    ['STOP inside a MARK', '(\x80\x02.', /open MARK/, false],
    ['TUPLE without MARK', 't.', /closes a MARK it never opened/, false],
    ['calling a dtype', 'ctorch\nfloat16\n)R.', /calls torch\.float16, which cannot be called/, false],
    ['calling a list', '])R.', /calls a list, which cannot be called/, false],
    ['calling an int', 'K\x01)R.', /calls a int, which cannot be called/, false],
    ['list as dict key', '}]K\x01s.', /unhashable list as a dict key/, false],
    ['nested tuple as dict key', '}((K\x01ttK\x01s.', /nested tuple as a dict key/, false],
    ['Parameter of an int', 'ctorch._utils\n_rebuild_parameter\n(K\x01\x88}tR.', /makes a Parameter of a int/, false],
    ['bad \\x escape', 'S\'\\x4\'\n.', /invalid \\x escape/, false],
    ['unquoted STRING', 'Sabc\n.', /not quoted/, false],
    ['malformed INT', 'I12a\n.', /malformed integer/, false],
    ['5000-digit INT', `I${'9'.repeat(5000)}\n.`, /absurdly long integer/, false],
    ['5000-digit FLOAT', `F${'9'.repeat(5000)}\n.`, /absurdly long float/, false],
    ['64 kB LONG4', '\x8b\x01\x00\x01\x00' + '\x00'.repeat(65537) + '.', /absurdly large integer/, false],
    ['OrderedDict state from a list', 'ccollections\nOrderedDict\n)R]b.', /OrderedDict's state from a list/, false],
    ['builtins.getattr', 'cbuiltins\ngetattr\n.', /builtins\.getattr/, true],
    ['NEWOBJ of __main__.Payload', 'c__main__\nPayload\n)\x81.', /__main__\.Payload/, true],
  ])('refuses %s', (_name, src, reason, isUnsafe) => {
    const bytes = latin1(src as string);
    let err: unknown = null;
    try {
      unpickle(bytes, host());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Refusal);
    expect((err as Refusal).message).toMatch(reason as RegExp);
    expect((err as Refusal).unsafe).toBe(isUnsafe);
  });
});

describe('the archive around it', () => {
  it('a zip that is not torch.save\'s: no data.pkl, or nothing at all', async () => {
    const empty = hex('504b0506' + '00'.repeat(18));
    await expect(indexCheckpoint(bytesSource(empty), 'e.pt')).rejects.toThrow(/neither a zip archive/);
    const withHeader = new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...empty]);
    const err = await indexCheckpoint(bytesSource(withHeader), 'e.pt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).reason).toMatch(/central directory does not end where|zip archive is empty/);
  });
});
