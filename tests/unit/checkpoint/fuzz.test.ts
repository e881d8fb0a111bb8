// Property-based fuzz of the checkpoint reader: random damage to real torch.save files (the zip
// structure, and data.pkl with its checksum repaired so the unpickler sees it) and random opcode
// streams. Every outcome must be an index or a CheckpointError, never another exception, and the
// reader must never ask its source for more than the file holds. Seeded, so a failure reproduces.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesSource, CheckpointError, countingSource, crc32, indexCheckpoint, readTensor } from '../../../src/checkpoint';
import { Refusal } from '../../../src/checkpoint/errors';
import { unpickle } from '../../../src/checkpoint/pickle';
import { stateDictEntries } from '../../../src/checkpoint/stateDict';
import { torchHost } from '../../../src/checkpoint/torch';
import { checkNesting } from '../../../src/checkpoint/values';
import { torchArchives, type TorchArchives } from './fixtures';

const SEED = Number(process.env.CHECKPOINT_FUZZ_SEED ?? 20_261_207); // another seed explores further
const run = <T>(prop: fc.IAsyncPropertyWithHooks<T> | fc.IPropertyWithHooks<T>, numRuns: number) =>
  fc.assert(prop as fc.IAsyncProperty<T>, { seed: SEED, numRuns });

let fx: TorchArchives;
beforeAll(async () => {
  fx = await torchArchives();
}, 300_000);

/** Indexes `bytes` (and reads every tensor it finds); returns the outcome, failing on any error that is not a CheckpointError. */
async function outcome(bytes: Uint8Array): Promise<'ok' | 'refused'> {
  const src = countingSource(bytesSource(bytes));
  try {
    const idx = await indexCheckpoint(src, 'fuzz.pt');
    for (const t of idx.tensors) {
      expect(t.byteOffset + t.byteLength).toBeLessThanOrEqual(bytes.length);
      await readTensor(src, idx, t).catch((e: unknown) => {
        if (!(e instanceof CheckpointError)) throw e;
      });
    }
    return 'ok';
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    expect(e.message).not.toMatch(/\n/);
    return 'refused';
  } finally {
    expect(src.stats.largest).toBeLessThanOrEqual(bytes.length);
    expect(src.stats.bytes).toBeLessThanOrEqual(2 * bytes.length + 1);
  }
}

const OPCODES = [...'(.012FIJKLMNPQRSTUVXabcdeghijlopqrstu}])G'].map((c) => c.charCodeAt(0))
  .concat([0x80, 0x81, 0x82, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0xff]);
const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...OPCODES, 0x00, 0x01, 0x7f, 0xfe));

describe('fuzz: damaged archives', () => {
  for (const file of ['module.pt', 'zip64.pt']) {
    it(`${file}: random bytes changed (often in the zip directory and headers), cut or appended`, async () => {
      const base = new Uint8Array(readFileSync(fx.path('good', file)));
      const n = base.length;
      const pos = fc.oneof(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: Math.max(0, n - 600), max: n - 1 }), fc.integer({ min: 0, max: 200 }));
      const edit = fc.oneof(
        fc.record({ kind: fc.constant('set' as const), at: pos, value: byte }),
        fc.record({ kind: fc.constant('cut' as const), at: pos, value: byte }),
        fc.record({ kind: fc.constant('append' as const), at: pos, value: byte }),
      );
      let ok = 0;
      await run(fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 6 }), async (edits) => {
        let bytes = base.slice();
        for (const e of edits) {
          if (e.kind === 'set' && e.at < bytes.length) bytes[e.at] = e.value;
          if (e.kind === 'cut') bytes = bytes.slice(0, Math.min(e.at, bytes.length));
          if (e.kind === 'append') {
            const longer = new Uint8Array(bytes.length + (e.at % 64)).fill(e.value);
            longer.set(bytes);
            bytes = longer;
          }
        }
        if ((await outcome(bytes)) === 'ok') ok++;
      }), 600);
      expect(ok).toBeGreaterThan(0); // some edits (in tensor data) leave a readable file
    }, 120_000);
  }
});

describe('fuzz: damaged data.pkl behind a valid checksum', () => {
  it.each(['module.pt', 'wrapped_state_dict.pt', 'protocol4.pt'])('%s', async (file) => {
    const base = new Uint8Array(readFileSync(fx.path('good', file)));
    const [pklAt, pklLen] = fx.good[file].records['data.pkl'];
    // The central-directory entry of data.pkl: its CRC must match the damaged pickle, or the reader stops there.
    const name = new TextEncoder().encode(`${fx.good[file].folder}/data.pkl`);
    let nameAt = -1;
    for (let i = base.length - name.length; i >= 0 && nameAt < 0; i--) {
      if (name.every((b, k) => base[i + k] === b) && base[i - 46] === 0x50 && base[i - 45] === 0x4b && base[i - 44] === 1) nameAt = i;
    }
    expect(nameAt).toBeGreaterThan(0);
    const crcAt = nameAt - 46 + 16;
    let refused = 0;
    await run(fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: pklLen - 1 }), byte), { minLength: 1, maxLength: 4 }), async (edits) => {
      const bytes = base.slice();
      for (const [at, v] of edits) bytes[pklAt + at] = v;
      new DataView(bytes.buffer).setUint32(crcAt, crc32(bytes.subarray(pklAt, pklAt + pklLen)), true);
      if ((await outcome(bytes)) === 'refused') refused++;
    }), 600);
    expect(refused).toBeGreaterThan(100); // the damage reached the unpickler and was refused there
  }, 120_000);
});

describe('fuzz: random opcode streams', () => {
  it('give a value or a Refusal, and so do the nesting check and the state-dict view of that value', () => {
    const records = new Map([['data/0', { name: 'a/data/0', dataOffset: 64, size: 16, crc32: 0, headerOffset: 0 }]]);
    run(fc.property(fc.array(byte, { minLength: 1, maxLength: 120 }), (ops) => {
      try {
        const v = unpickle(Uint8Array.from([...ops, 0x2e]), torchHost({ records, fileSize: 200 }));
        checkNesting(v, 50);
        stateDictEntries(v);
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
      }
    }), 5000);
  });
});
