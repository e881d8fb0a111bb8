// The browser parts' build and static server: the app plus bench.html built into one folder
// (vite.bench.config.ts), served by `vite preview` (its COOP/COEP headers give the page threads).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { log } from './report';

export function build(outDir: string): void {
  for (const args of [['vite', 'build', '--outDir', outDir, '--emptyOutDir'], ['vite', 'build', '-c', 'vite.bench.config.ts', '--outDir', outDir]]) {
    log(`npx ${args.join(' ')}`);
    const r = spawnSync('npx', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' } });
    if (r.status !== 0) throw new Error(`npx ${args.join(' ')} failed (exit ${r.status})`);
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** `vite preview` of `outDir` on a free local port; resolves once it answers (kill `proc` when done). */
export async function startPreview(outDir: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [resolve('node_modules/vite/bin/vite.js'), 'preview', '--outDir', outDir, '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let k = 0; k < 300; k++) {
    if (proc.exitCode !== null) throw new Error(`vite preview exited with ${proc.exitCode}`);
    try {
      if ((await fetch(url)).ok) return { url, proc };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  proc.kill();
  throw new Error('vite preview did not answer within 60 s');
}

/**
 * Makes the pack folder `packDir` (anywhere on disk) the built app's pack `id`: a link, not a copy
 * (full-size packs are GBs; `vite preview` follows it), in a models/index.json that lists it alone.
 * Returns the undo (the link removed, the original index back).
 */
export function linkPack(dist: string, packDir: string, id: string, title: string): () => void {
  const linked = join(dist, 'models', id);
  const indexPath = join(dist, 'models', 'index.json');
  const index = readFileSync(indexPath);
  rmSync(linked, { recursive: true, force: true });
  symlinkSync(resolve(packDir), linked, 'dir');
  writeFileSync(indexPath, JSON.stringify({ packs: [{ id, title, path: `models/${id}/` }], default: id }));
  return () => {
    rmSync(linked, { force: true });
    writeFileSync(indexPath, index);
  };
}
