// npx tsx tools/fullsize_browser.ts --pack DIR [--ep wasm] [--steps 1] [--timeout-s 1800] [--out FILE]
//   [--dist DIR] [--no-build] [--interval-ms 250]
//
// Loads a converted pack (a folder with manifest.json, e.g. from tools/check_full_size.py --keep) in the
// built app in headless Chromium and runs one sampling step; prints ONE JSON object on stdout (progress
// on stderr): the outcome (ran, refused with the app's reason, load-error, run-failed, timeout, crashed), the
// time to "Ready" with the app's load phases, the time of the first step, and peak memory: RSS and PSS
// sums over the Chromium processes, sampled from /proc every --interval-ms while loading and stepping
// (./fullsize/procmem.ts).
// The app only loads packs from its own origin, so the pack is linked into the built folder as
// models/<id>/ next to an index.json that lists it alone (bench/serve.ts linkPack). Chromium gets a fresh on-disk profile per run
// (the pack is downloaded and stored in OPFS as on a first visit) that is deleted afterwards.
// Exit code 0 for "ran" and "refused", 1 otherwise.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { launchChromiumProfile } from './bench/browser';
import { errText } from './bench/report';
import { build, linkPack, startPreview } from './bench/serve';
import { loadAndStep, type AppRun } from './fullsize/appRun';
import { startSampler } from './fullsize/procmem';
import { CliError, integer, parseFlags, runMain, str } from './lib/cli';

const FLAGS = {
  pack: 'string', ep: 'string', steps: 'string', 'timeout-s': 'string', out: 'string', dist: 'string',
  'no-build': 'boolean', 'interval-ms': 'string', help: 'boolean',
} as const;
const USAGE = `usage: fullsize_browser --pack DIR [--ep wasm|webgpu] [--steps 1] [--timeout-s 1800] [--out FILE]
  [--dist DIR] [--no-build] [--interval-ms 250]`;
const PACK_ID = 'fullsize-check';

const log = (msg: string) => void process.stderr.write(`fullsize_browser: ${msg}\n`);

runMain('fullsize_browser', async () => {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const packArg = str(flags, 'pack');
  if (!packArg) throw new CliError('--pack DIR is required');
  const packDir = resolve(packArg);
  if (!existsSync(join(packDir, 'manifest.json'))) throw new CliError(`no manifest.json in ${packDir}`);
  const manifest = JSON.parse(readFileSync(join(packDir, 'manifest.json'), 'utf8')) as { name?: string; title?: string };
  const ep = str(flags, 'ep') ?? 'wasm';
  if (ep !== 'wasm' && ep !== 'webgpu') throw new CliError(`--ep must be wasm or webgpu (got "${ep}")`);
  const steps = integer(str(flags, 'steps') ?? '1', 'steps', 1, 1000);
  const timeoutMs = integer(str(flags, 'timeout-s') ?? '1800', 'timeout-s', 1) * 1000;
  const intervalMs = integer(str(flags, 'interval-ms') ?? '250', 'interval-ms', 20);
  const dist = resolve(str(flags, 'dist') ?? 'node_modules/.tmp/fullsize-dist');

  if (!flags['no-build']) build(dist);
  else if (!existsSync(join(dist, 'index.html'))) throw new CliError(`--no-build: no built app in ${dist}`);
  const unlink = linkPack(dist, packDir, PACK_ID, manifest.title ?? manifest.name ?? PACK_ID);

  const result: Record<string, unknown> = {
    timestamp: new Date().toISOString(), pack: packDir, packName: manifest.name, ep, steps, sampler: 'ddim',
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
  };
  const server = await startPreview(dist);
  const profile = mkdtempSync(join(os.tmpdir(), 'fullsize-chromium-'));
  const sampler = startSampler(server.proc.pid !== undefined ? [server.proc.pid] : [], intervalMs);
  let run: AppRun | { outcome: 'error'; error: string };
  try {
    log(`${PACK_ID} -> ${packDir} on ${ep}, ${steps} step(s), served at ${server.url}`);
    const ctx = await launchChromiumProfile(profile);
    try {
      result.userAgent = await (ctx.pages()[0] ?? (await ctx.newPage())).evaluate(() => navigator.userAgent);
      run = await loadAndStep(ctx, server.url, PACK_ID, ep, steps, timeoutMs, (p) => sampler.phase(p));
    } finally {
      await ctx.close();
    }
  } catch (e) {
    run = { outcome: 'error', error: errText(e) };
  } finally {
    result.memory = sampler.stop();
    server.proc.kill();
    rmSync(profile, { recursive: true, force: true }); // the OPFS copy of the pack
    unlink();
  }
  Object.assign(result, run);
  log(`${run.outcome}${run.error ? `: ${run.error}` : ''}`);
  const text = JSON.stringify(result);
  const out = str(flags, 'out');
  if (out) writeFileSync(out, `${text}\n`);
  await new Promise((r) => process.stdout.write(`${text}\n`, r));
  if (run.outcome !== 'ran' && run.outcome !== 'refused') process.exit(1); // runMain would exit 0
});
