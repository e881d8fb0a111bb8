// npx tsx tools/checkpoint_import_browser.ts --templates DIR --files A.pt[,B.pt] [--ep wasm] [--timeout-s 3600]
//   [--dist DIR] [--no-build] [--out FILE] [--interval-ms 250]
//
// Measures the page's checkpoint import in the built app in headless Chromium: the files are set into the input
// "Checkpoint files" with DIR (index.json + template folders, e.g. from `npm run template -- --stem ...`) served
// as the app's templates/; the page builds and stores the pack, then loads it. Prints ONE JSON object: the
// import's phases (the worker's "[import] ..." console line: index, read, fill, hash, store), the load's phases
// ("[pack] ..."), the times from the file input to the import's end and to "Ready", and the peak memory of the
// Chromium processes per phase (./fullsize/procmem.ts): 'default' (the app's default pack), 'import', 'load'.
// Exit code 0 when the pack was built and loaded.
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { LOADED, launchChromiumProfile, waitForStatus } from './bench/browser';
import { errText, round } from './bench/report';
import { build, startPreview } from './bench/serve';
import { parseLoadLine } from './fullsize/appRun';
import { startSampler } from './fullsize/procmem';
import { CliError, integer, parseFlags, runMain, str } from './lib/cli';

const FLAGS = { templates: 'string', files: 'string', ep: 'string', 'timeout-s': 'string', dist: 'string', 'no-build': 'boolean', out: 'string', 'interval-ms': 'string', help: 'boolean' } as const;
const USAGE = 'usage: checkpoint_import_browser --templates DIR --files A.pt[,B.pt] [--ep wasm] [--timeout-s 3600] [--dist DIR] [--no-build] [--out FILE]';
const log = (msg: string) => void process.stderr.write(`checkpoint_import_browser: ${msg}\n`);

/** Resolves with the status line once the imported pack is ready (its "[pack]" line arrived) or failed to load. */
async function waitForImportedLoad(page: Page, lines: Record<string, string>, timeoutMs: number): Promise<string> {
  for (const t0 = performance.now(); performance.now() - t0 < timeoutMs; await page.waitForTimeout(250)) {
    const text = (await page.getByRole('status').textContent()) ?? '';
    if (lines.pack || /could not be loaded/.test(text)) return text;
  }
  throw new Error(`the imported pack was not ready within ${timeoutMs / 1000} s`);
}

runMain('checkpoint_import_browser', async () => {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (flags.help) return void process.stdout.write(`${USAGE}\n`);
  const templates = resolve(str(flags, 'templates') ?? '');
  if (!existsSync(join(templates, 'index.json'))) throw new CliError('--templates DIR must hold an index.json');
  const files = (str(flags, 'files') ?? '').split(',').filter(Boolean).map((f) => resolve(f));
  if (files.length === 0 || files.some((f) => !existsSync(f))) throw new CliError('--files A.pt[,B.pt]: existing checkpoint files');
  const ep = str(flags, 'ep') ?? 'wasm';
  const timeoutMs = integer(str(flags, 'timeout-s') ?? '3600', 'timeout-s', 1) * 1000;
  const dist = resolve(str(flags, 'dist') ?? 'node_modules/.tmp/fullsize-dist');
  if (!flags['no-build']) build(dist);
  const link = join(dist, 'templates');
  rmSync(link, { recursive: true, force: true });
  symlinkSync(templates, link, 'dir');

  const result: Record<string, unknown> = { timestamp: new Date().toISOString(), files, ep, machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg() } };
  const server = await startPreview(dist);
  const profile = mkdtempSync(join(os.tmpdir(), 'ckimport-chromium-'));
  const sampler = startSampler(server.proc.pid !== undefined ? [server.proc.pid] : [], integer(str(flags, 'interval-ms') ?? '250', 'interval-ms', 20));
  let ok = false;
  try {
    const ctx = await launchChromiumProfile(profile);
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const lines: Record<string, string> = {};
      const onConsole = (m: { text(): string }) => {
        const t = m.text();
        const k = /^\[(import|pack)\] /.exec(t)?.[1];
        if (k) lines[k] = t;
      };
      page.on('console', onConsole);
      page.on('worker', (w) => w.on('console', onConsole));
      sampler.phase('default');
      await page.goto(`${server.url}?ep=${ep}`);
      await waitForStatus(page, LOADED, timeoutMs, 200);
      sampler.phase('import');
      const t0 = performance.now();
      await page.getByLabel('Checkpoint files').setInputFiles(files);
      await page.waitForFunction(() => /built in|could not|refusing|cannot read|matches no/i.test(document.querySelector('.checkpoint-import')?.textContent ?? ''), null, { timeout: timeoutMs, polling: 200 });
      result.importMs = round(performance.now() - t0);
      const failed = await page.locator('.checkpoint-import [role="alert"]').allTextContents();
      if (failed.length) throw new Error(failed.join(' '));
      sampler.phase('load');
      delete lines.pack; // the default pack's line: the imported pack's comes when it is ready
      const ready = await waitForImportedLoad(page, lines, timeoutMs);
      result.toReadyMs = round(performance.now() - t0);
      result.statusText = ready;
      await page.waitForTimeout(500);
      result.importLine = lines.import;
      result.loadLine = lines.pack;
      result.loadPhasesMs = lines.pack ? parseLoadLine(lines.pack) : undefined;
      ok = ready.startsWith('Ready');
    } finally {
      await ctx.close();
    }
  } catch (e) {
    result.error = errText(e);
  } finally {
    result.memory = sampler.stop();
    server.proc.kill();
    rmSync(profile, { recursive: true, force: true });
    rmSync(link, { force: true });
  }
  log(ok ? 'built and loaded' : `failed: ${result.error ?? result.statusText}`);
  const text = JSON.stringify(result);
  const out = str(flags, 'out');
  if (out) writeFileSync(out, `${text}\n`);
  await new Promise((r) => process.stdout.write(`${text}\n`, r));
  if (!ok) process.exit(1);
});
