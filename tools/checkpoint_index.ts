// npx tsx tools/checkpoint_index.ts --file 64x64_diffusion.pt [--read]
// Runs the page's torch.save reader (src/checkpoint) on a file from Node and prints one JSON line: the
// tensor count, parameters, dtypes, what indexing read (bytes, reads) and took; with --read it also reads
// every tensor (CRC-checked) and reports the rate. A refused file prints the reader's one-line reason (exit 2).
import { openAsBlob, statSync } from 'node:fs';
import { basename } from 'node:path';
import { blobSource, CheckpointError, countingSource, indexCheckpoint, readTensor } from '../src/checkpoint';
import { CliError, parseFlags, runMain, str } from './lib/cli';

const USAGE = 'usage: checkpoint_index --file PATH [--read]';

runMain('checkpoint_index', async () => {
  const flags = parseFlags(process.argv.slice(2), { file: 'string', read: 'boolean' });
  const file = str(flags, 'file');
  if (!file) throw new CliError(`--file is required (${USAGE})`);
  if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new CliError(`${file} is not a file`);
  const src = countingSource(blobSource(await openAsBlob(file)));
  const t0 = performance.now();
  const idx = await indexCheckpoint(src, basename(file)).catch((e: unknown) => {
    throw e instanceof CheckpointError ? new CliError(e.message) : e;
  });
  const indexMs = performance.now() - t0;
  const indexStats = { ...src.stats };
  const dtypes: Record<string, number> = {};
  for (const t of idx.tensors) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  const out: Record<string, unknown> = {
    file: idx.fileName, bytes: idx.fileSize, tensors: idx.tensors.length, params: idx.tensors.reduce((a, t) => a + t.numel, 0),
    dtypes, wrapper: idx.wrapper, strippedPrefix: idx.strippedPrefix, firstKey: idx.tensors[0]?.key,
    index: { ms: Math.round(indexMs * 10) / 10, bytesRead: indexStats.bytes, reads: indexStats.reads, largestRead: indexStats.largest },
  };
  if (flags.read) {
    const t1 = performance.now();
    let bytes = 0;
    for (const t of idx.tensors) bytes += (await readTensor(src, idx, t)).length;
    const s = (performance.now() - t1) / 1000;
    out.read = { s: Math.round(s * 100) / 100, bytes, MBps: Math.round(bytes / 1e6 / s) };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
