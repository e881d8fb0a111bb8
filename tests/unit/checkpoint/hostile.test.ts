// Hostile and unreadable files (made by tests/fixtures/make_torch_archives.py): each is refused with
// a one-line reason naming the file, unsafe content as UnsafeCheckpointError, and the reader never asks
// its source for more than the file holds.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bytesSource, CheckpointError, countingSource, indexCheckpoint, UnsafeCheckpointError,
} from '../../../src/checkpoint';
import { torchArchives, type TorchArchives } from './fixtures';

let fx: TorchArchives;
beforeAll(async () => {
  fx = await torchArchives();
}, 300_000);

async function refusal(file: string, limits = {}): Promise<{ err: CheckpointError; bytes: number; largest: number; size: number }> {
  const src = countingSource(await fx.source('hostile', file));
  const err = await indexCheckpoint(src, file, limits).then(() => null, (e: unknown) => e);
  if (!(err instanceof CheckpointError)) throw new Error(`${file}: expected a CheckpointError, got ${String(err)}`);
  return { err, bytes: src.stats.bytes, largest: src.stats.largest, size: src.size };
}

const CASES = [
  'global_os_system', 'reduce_builtins_eval', 'stack_global_eval', 'reduce_subprocess', 'torch_load_global', 'inst_os_system',
  'build_list', 'build_tensor', 'ext1', 'ext2', 'ext4', 'unknown_storage_type', 'deflate_bomb', 'deflated_pickle', 'overlap',
  'out_of_file', 'name_mismatch', 'encrypted', 'two_folders', 'duplicate', 'foreign_entry', 'torchscript', 'absurd_entries',
  'prepended', 'missing_record', 'byteorder_big', 'shape_overflow', 'shape_beyond_2_53', 'stride0_huge', 'negative_stride',
  'past_storage', 'record_too_long', 'record_too_short', 'memo_missing', 'stack_underflow', 'deep_nesting', 'deep_marks',
  'self_reference', 'protocol0', 'truncated_pickle', 'truncated', 'empty', 'text', 'legacy', 'bare_pickle', 'not_a_state_dict',
  'view', 'non_contiguous', 'shared_storage',
];

describe('hostile and unreadable files', () => {
  it('the fixture script made every case listed here, and nothing else', () => {
    expect(fx.hostile.map((h) => h.file).sort()).toEqual(CASES.map((c) => `${c}.pt`).sort());
  });

  it.each(CASES)('%s is refused with its reason, on one line, reading at most the file', async (name) => {
    const h = fx.hostile.find((c) => c.file === `${name}.pt`)!;
    const { err, bytes, largest, size } = await refusal(h.file);
    expect(err.message).toContain(h.needle);
    expect(err.message.startsWith(`${h.unsafe ? 'refusing' : 'cannot read'} ${h.file}: `)).toBe(true);
    expect(err.message).not.toMatch(/\n/);
    expect(err.message).toBe(`${h.unsafe ? 'refusing' : 'cannot read'} ${h.file}: ${err.reason}`);
    expect(err.fileName).toBe(h.file);
    expect(err.unsafe).toBe(h.unsafe);
    expect(err instanceof UnsafeCheckpointError).toBe(h.unsafe);
    expect(largest).toBeLessThanOrEqual(size);
    expect(bytes).toBeLessThanOrEqual(2 * size);
  });

  it('the deflate bomb (64 MiB of zeros in 66 kB) is refused from its directory entry, before any of it is read', async () => {
    const { bytes, size } = await refusal('deflate_bomb.pt');
    expect(size).toBeLessThan(100_000);
    expect(bytes).toBeLessThanOrEqual(size); // the end-of-file window, nothing after it
  });
});

describe('limits', () => {
  it('refuses a data.pkl over maxPickleBytes before reading it', async () => {
    const { err } = await refusal('deep_nesting.pt', { maxPickleBytes: 100_000 });
    expect(err.reason).toMatch(/^its data\.pkl is \d+ bytes, more than the 100000 bytes a checkpoint's pickle could need$/);
  });

  it('refuses more zip entries than maxEntries, and nesting deeper than maxDepth', async () => {
    const bytes = new Uint8Array(readFileSync(fx.path('good', 'dtypes.pt')));
    await expect(indexCheckpoint(bytesSource(bytes), 'dtypes.pt', { maxEntries: 10 })).rejects.toThrow(/claims 32 entries .*more than the 10/);
    await expect(indexCheckpoint(bytesSource(bytes), 'dtypes.pt', { maxDepth: 2 })).rejects.toThrow(/nests containers more than 2 deep/);
    await expect(indexCheckpoint(bytesSource(bytes), 'dtypes.pt', { maxDepth: 3 })).resolves.toBeTruthy();
  });
});
