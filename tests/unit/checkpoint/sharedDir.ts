// A fixture folder made once per Vitest run and shared by its workers: named after its inputs' hash and the
// Vitest process; one worker makes it (under a lock, in a temporary folder renamed into place) while the others
// wait for its `done` file. Folders of the same prefix older than an hour are removed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `generate(work)` fills the temporary folder `work`; it must write `done` (a file name inside it). */
export async function sharedDir(prefix: string, hash: string, done: string, generate: (work: string) => void, waitMs = 300_000): Promise<string> {
  const dir = join(tmpdir(), `${prefix}${hash}-${process.ppid}`);
  const lock = `${dir}.lock`;
  for (const t0 = Date.now(); !existsSync(join(dir, done)); await sleep(250)) {
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() - t0 > waitMs) throw new Error(`waited ${waitMs / 60_000} minutes for another worker to make ${dir}`);
      continue; // another worker is making it
    }
    try {
      for (const old of readdirSync(tmpdir()).filter((n) => n.startsWith(prefix))) {
        const p = join(tmpdir(), old);
        if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
      }
      const work = mkdtempSync(join(tmpdir(), `${prefix}tmp-`));
      try {
        generate(work);
      } catch (e) {
        rmSync(work, { recursive: true, force: true });
        throw e;
      }
      renameSync(work, dir);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return dir;
}
