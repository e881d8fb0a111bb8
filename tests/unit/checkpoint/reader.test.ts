// The reader against real torch.save files: every dtype and shape, Parameters, OrderedDicts with
// metadata, wrappers, every pickle protocol, Zip64 fields, torch 2.x records, a small ADM U-Net. The
// bytes read must be torch's own bytes for each tensor (sha256 from the fixture script) and the ranges
// those Python's zipfile finds.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bytesSource, CheckpointError, countingSource, DTYPE_BYTES, indexCheckpoint, readTensor, type ByteSource, type CheckpointIndex,
} from '../../../src/checkpoint';
import { torchArchives, type TorchArchives } from './fixtures';

let fx: TorchArchives;
beforeAll(async () => {
  fx = await torchArchives();
}, 300_000);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('real torch.save files', () => {
  it('has the fixture set', () => {
    expect(Object.keys(fx.good).length).toBe(15);
  });

  it.each([
    'dtypes.pt', 'params.pt', 'module.pt', 'wrapped_state_dict.pt', 'wrapped_model.pt', 'protocol1.pt', 'protocol2.pt',
    'protocol3.pt', 'protocol4.pt', 'protocol5.pt', 'adm_unet.pt', 'modèle.pt', 'zip64.pt', 'torch2_records.pt', 'memo_far.pt',
  ])('%s: keys, dtypes, shapes, byte ranges and bytes equal what torch wrote', async (file) => {
    const want = fx.good[file];
    const src = await fx.source('good', file);
    const idx = await indexCheckpoint(src, file);
    expect(idx.fileName).toBe(file);
    expect(idx.folder).toBe(want.folder);
    expect(idx.wrapper).toBe(want.wrapper);
    expect(idx.strippedPrefix).toBe(want.strippedPrefix);
    expect(idx.tensors.map((t) => [t.key, t.dtype, t.shape])).toEqual(want.tensors.map((t) => [t.key, t.dtype, t.shape]));
    for (const [i, t] of idx.tensors.entries()) {
      expect(t.numel).toBe(t.shape.reduce((a, b) => a * b, 1));
      expect(t.byteLength).toBe(t.numel * DTYPE_BYTES[t.dtype]);
      expect([t.byteOffset, t.byteLength]).toEqual(want.records[t.record]);
      expect(sha256(await readTensor(src, idx, t)), t.key).toBe(want.tensors[i].sha256);
    }
  });

  it('covers every dtype torch.save writes, and 0-d, empty and N-d shapes', () => {
    const dt = fx.good['dtypes.pt'].tensors;
    expect(new Set(dt.map((t) => t.dtype))).toEqual(new Set(Object.keys(DTYPE_BYTES)));
    const shapes = dt.map((t) => JSON.stringify(t.shape));
    for (const s of ['[]', '[5]', '[0]', '[3,0,2]', '[2,3,4,5]', '[1,1,1]']) expect(shapes).toContain(s);
  });

  it('torch aligns records to 64 bytes, and the index finds each after its local header', async () => {
    const idx = await indexCheckpoint(await fx.source('good', 'adm_unet.pt'), 'adm_unet.pt');
    expect(idx.tensors.length).toBe(145);
    expect(idx.tensors.every((t) => t.byteOffset % 64 === 0)).toBe(true);
  });

  it('reads only the zip directory, the local headers and data.pkl, never the tensors', async () => {
    const file = 'adm_unet.pt';
    const src = countingSource(await fx.source('good', file));
    const idx = await indexCheckpoint(src, file);
    const tensorBytes = idx.tensors.reduce((a, t) => a + t.byteLength, 0);
    expect(tensorBytes).toBeGreaterThan(0.95 * idx.fileSize);
    expect(idx.bytesRead).toBe(src.stats.bytes);
    expect(src.stats.bytes).toBeLessThan(idx.fileSize - tensorBytes + 70_000); // + the 64 kB end-of-file window
    // no read touches a tensor's data except the end-of-file window that finds the end records
    expect(src.stats.largest).toBeLessThanOrEqual(65_557 + 76);
  });

  it('works the same from bytes in memory and from a Blob', async () => {
    const file = 'module.pt';
    const a = await indexCheckpoint(await fx.source('good', file), file);
    const bytes = new Uint8Array(readFileSync(fx.path('good', file)));
    const b = await indexCheckpoint(bytesSource(bytes), file);
    expect(b).toEqual(a);
  });
});

describe('readTensor', () => {
  let bytes: Uint8Array;
  let idx: CheckpointIndex;
  beforeAll(async () => {
    bytes = new Uint8Array(readFileSync(fx.path('good', 'module.pt')));
    idx = await indexCheckpoint(bytesSource(bytes), 'module.pt');
  });

  it('refuses a record whose bytes changed (CRC-32), unless asked not to check', async () => {
    const t = idx.tensors.find((x) => x.key === 'fc.weight')!;
    const bad = bytes.slice();
    bad[t.byteOffset + 3] ^= 0x40;
    const src = bytesSource(bad);
    await expect(readTensor(src, idx, t)).rejects.toThrow(/^cannot read module\.pt: its data\/\d+ \("fc\.weight"\) record fails its checksum/);
    const raw = await readTensor(src, idx, t, { verify: false });
    expect(raw[3]).toBe(bytes[t.byteOffset + 3] ^ 0x40);
  });

  it('refuses a file that changed size since it was indexed, or reads that fail', async () => {
    const t = idx.tensors[0];
    await expect(readTensor(bytesSource(bytes.subarray(0, bytes.length - 1)), idx, t)).rejects.toThrow(/changed size/);
    const failing: ByteSource = { size: bytes.length, read: async () => { throw new Error('NotReadableError\nfile gone'); } };
    const err = await readTensor(failing, idx, t).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).message).toMatch(/reading data\/\d+ .* failed \(NotReadableError file gone\)/);
    const short: ByteSource = { size: bytes.length, read: async () => new Uint8Array(1) };
    await expect(readTensor(short, idx, t)).rejects.toThrow(/returned 1 bytes instead of/);
  });
});
