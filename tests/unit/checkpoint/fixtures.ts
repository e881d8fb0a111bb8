// Checkpoints made by PyTorch itself at test time (tests/fixtures/make_torch_archives.py, run with
// /usr/bin/python3, which `npm test` installs torch for). Made once per Vitest run and shared by its
// workers: the folder is named after the script's hash and the Vitest process; one worker makes it
// (under a lock, in a temporary folder renamed into place) while the others wait for it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openAsBlob, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blobSource, type ByteSource } from '../../../src/checkpoint';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fixture folder of this Vitest run: made by the first worker that takes the lock, awaited by the others. */
async function make(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `${PREFIX}${hash}-${process.ppid}`);
  const lock = `${dir}.lock`;
  for (const t0 = Date.now(); !existsSync(join(dir, 'plain.json')); await sleep(250)) {
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() - t0 > 300_000) throw new Error(`waited 5 minutes for another worker to make ${dir}`);
      continue; // another worker is making it
    }
    try {
      generate(dir);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return dir;
}

function generate(dir: string): void {
  for (const old of readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX))) {
    const p = join(tmpdir(), old);
    if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
  }
  const work = mkdtempSync(join(tmpdir(), `${PREFIX}tmp-`));
  const r = spawnSync(PYTHON, [SCRIPT, work], {
    cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  if (r.status !== 0) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(`${PYTHON} tests/fixtures/make_torch_archives.py failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}): `
      + `these tests need PyTorch for ${PYTHON} (npm test installs python3-torch).\n${r.stderr.slice(-2000)}`);
  }
  renameSync(work, dir);
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
