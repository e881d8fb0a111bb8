// Checkpoints made by PyTorch itself at test time (tests/fixtures/make_torch_archives.py, run with
// /usr/bin/python3, which `npm test` installs torch for). Made once per Vitest run and shared by its
// workers: the folder is named after the script's hash and the Vitest process; one worker makes it
// (under a lock, in a temporary folder renamed into place) while the others wait for it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openAsBlob, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blobSource, type ByteSource } from '../../../src/checkpoint';
import { sharedDir } from './sharedDir';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'tests/fixtures/make_torch_archives.py');
const PYTHON = '/usr/bin/python3';
const PREFIX = 'gd-torch-archives-';

export interface GoodTensor { key: string; dtype: string; shape: number[]; sha256: string }
export interface GoodFile {
  wrapper: string | null;
  strippedPrefix: string | null;
  folder: string;
  tensors: GoodTensor[];
  /** Record name below the folder -> [data offset, size], from Python's zipfile. */
  records: Record<string, [number, number]>;
}
export interface HostileCase { file: string; needle: string; unsafe: boolean; python: 'refuse' | 'accept' }
export interface PlainCase { protocol: number; hex: string; value: unknown }

export interface TorchArchives {
  dir: string;
  good: Record<string, GoodFile>;
  hostile: HostileCase[];
  plain: PlainCase[];
  path(kind: 'good' | 'hostile', file: string): string;
  source(kind: 'good' | 'hostile', file: string): Promise<ByteSource>;
}

/** The fixture folder of this Vitest run (made by the first worker, awaited by the others). */
function make(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  return sharedDir(PREFIX, hash, 'plain.json', (work) => {
    const r = spawnSync(PYTHON, [SCRIPT, work], {
      cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    });
    if (r.status !== 0) {
      throw new Error(`${PYTHON} tests/fixtures/make_torch_archives.py failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}): `
        + `these tests need PyTorch for ${PYTHON} (npm test installs python3-torch).\n${r.stderr.slice(-2000)}`);
    }
  });
}

let cached: TorchArchives | null = null;

export async function torchArchives(): Promise<TorchArchives> {
  if (cached) return cached;
  const dir = await make();
  const json = (name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
  const path = (kind: 'good' | 'hostile', file: string) => join(dir, kind, file);
  cached = {
    dir, good: json('good.json'), hostile: json('hostile.json'), plain: json('plain.json'), path,
    source: async (kind, file) => blobSource(await openAsBlob(path(kind, file))),
  };
  return cached;
}
