// npm run --silent bench -- [--pack imagenette64] [--steps 10] [--webgpu-pack tiny16] [--webgpu-steps N]
//   [--skip node,wasm,webgpu,bare,batch,ops,static,load] [--no-build] [--out-dir DIR] [--scale S]
//   [--batches 1,4,6,8] [--load-pack DIR] [--bare-warm 25]
//
// Milliseconds per guided DDIM step (U-Net + classifier-gradient graph, batch 1) measured three
// ways, printed as ONE JSON object on stdout (progress on stderr):
//   node            onnxruntime-node CPU EP, 2 threads, through tools/lib/ort.ts and sampleLoop (bench/node.ts)
//   chromiumWasm    headless Chromium, the built app on the wasm EP (full) and a bare ORT loop (bare)
//   chromiumWebgpu  the same on the WebGPU EP (defaults to the tiny16 pack: a CPU-only machine's adapter
//                   is SwiftShader) (bench/browser.ts, built and served by bench/serve.ts)
// "full" = the app: time from status "step 1 / N" to "step N / N", divided by N-1.
// "bare" = bench.html (src/bench/): the two sessions run back to back in a worker, same inputs.
// Main-thread long tasks during each full-app run come from a PerformanceObserver('longtask') (bench/instrument.ts).
// "batch" (the grid views): ms per step at batch K (--batches) on node and Chromium wasm, the default
// sweep as one batch vs two (bench/batch.ts), and the app's sweep view on wasm (ms per step,
// long tasks while 12 cells stream).
// "ops": ONNX Runtime's per-op profile of both graphs on onnxruntime-node and on onnxruntime-web's wasm
// EP run in Node (the app's wasm build), op type by op type: where the wasm gap goes (bench/ops.ts).
// "static": the built app on a plain static server without COOP/COEP (under a sub-path), with its
// service worker (wasm threads) and with service workers blocked (one thread), ms per step of each
// (bench/static.ts).
// "load": a first visit of a pack (--load-pack DIR, default the --pack one) on wasm in a fresh on-disk
// profile: every load phase, ready against transfer + sessions (issue 10's goal), and the second
// visit from storage (bench/load.ts).
// "machine" is measured (bench/machine.ts): CPUs and memory from node:os, versions, and the WebGPU
// adapter the browser reports.
// This file is the CLI: flags, which parts run, and the result's shape.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError, finiteNumber, integer, parseFlags, runMain, str } from './lib/cli';
import { benchBrowserBatches, benchNodeBatches } from './bench/batch';
import { benchChromium, benchFull, launchChromium } from './bench/browser';
import { browserDevice, describeMachine, hostMachine } from './bench/machine';
import { NODE_THREADS, WARM_STEPS, benchNode } from './bench/node';
import { benchOps, convFloor } from './bench/ops';
import { errText, log } from './bench/report';
import { benchLoad } from './bench/load';
import { build, startPreview } from './bench/serve';
import { benchStatic } from './bench/static';

const FLAGS = {
  pack: 'string', steps: 'string', 'webgpu-pack': 'string', 'webgpu-steps': 'string', skip: 'string',
  'no-build': 'boolean', 'out-dir': 'string', scale: 'string', batches: 'string', 'load-pack': 'string', 'bare-warm': 'string', help: 'boolean',
} as const;
const USAGE = `usage: bench [--pack imagenette64] [--steps 10] [--webgpu-pack tiny16] [--webgpu-steps N]
  [--skip node,wasm,webgpu,bare,batch,ops,static,load] [--no-build] [--out-dir DIR] [--scale S]
  [--batches 1,4,6,8] [--load-pack DIR] [--bare-warm 25]`;
const PARTS = ['node', 'wasm', 'webgpu', 'bare', 'batch', 'ops', 'static', 'load'] as const;

runMain('bench', async () => {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const pack = str(flags, 'pack') ?? 'imagenette64';
  if (!existsSync(join('public/models', pack, 'manifest.json'))) throw new CliError(`no pack public/models/${pack}`);
  const steps = integer(str(flags, 'steps') ?? '10', 'steps', 2);
  // wasm warm-up runs of the bare loop and of the ops part's profile: V8 optimises the gradient graph's
  // kernels over its first ~20 steps.
  const bareWarm = integer(str(flags, 'bare-warm') ?? '25', 'bare-warm', 1);
  const webgpuPack = str(flags, 'webgpu-pack') ?? 'tiny16';
  const webgpuSteps = integer(str(flags, 'webgpu-steps') ?? (webgpuPack === pack && pack !== 'tiny16' ? '3' : String(steps)), 'webgpu-steps', 2);
  const skip = new Set((str(flags, 'skip') ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of skip) if (!(PARTS as readonly string[]).includes(s)) throw new CliError(`--skip: unknown part "${s}" (parts: ${PARTS.join(', ')})`);
  const scaleArg = str(flags, 'scale');
  const scale = scaleArg !== undefined ? finiteNumber(scaleArg, 'scale') : undefined;
  const outDir = resolve(str(flags, 'out-dir') ?? 'node_modules/.tmp/bench-dist');
  const batches = (str(flags, 'batches') ?? '1,4,6,8').split(',').map((b) => integer(b.trim(), 'batches', 1));
  const wantBatch = !skip.has('batch');
  const batch: Record<string, unknown> = { batches, note: 'ms per step = U-Net on K rows + gradient graph on K rows (fixed inputs, median); the sweep rows: see tools/bench/batch.ts' };
  const timeoutMs = 15 * 60_000;

  const host = hostMachine();
  const result: Record<string, unknown> = {
    timestamp: new Date().toISOString(),
    pack, steps, sampler: 'ddim', batch: 1,
    machine: describeMachine(host, null), // completed with the browser's view below when a browser part runs
  };

  if (wantBatch && !skip.has('node')) {
    log(`node: batches ${batches.join(',')}, ${steps} steps each`);
    try {
      batch.node = await benchNodeBatches(join('public/models', pack), batches, steps, NODE_THREADS, log);
    } catch (e) {
      batch.node = { error: errText(e) };
    }
  }

  if (!skip.has('node')) {
    log(`node: pack ${pack}, ${steps} guided DDIM steps after ${WARM_STEPS} warm-up steps`);
    try {
      result.node = await benchNode(pack, steps, scale);
    } catch (e) {
      if (e instanceof CliError) throw e;
      result.node = { error: errText(e) };
    }
  }

  if (!skip.has('ops')) {
    try {
      const graphs = await benchOps(join('public/models', pack), NODE_THREADS, Math.min(steps, 5), bareWarm, log);
      result.ops = {
        note: 'ONNX Runtime per-op profile, batch 1, fixed inputs: onnxruntime-node CPU EP vs onnxruntime-web wasm EP in Node (the plain SIMD build the app runs); ms of op kernels in the last of the runs; wasmConv: the convolutions of the wasm run (GFLOP from the recorded shapes); convFloor: guided ÷ unguided if the gradient graph were only its convolutions, run as fast per FLOP as the U-Net ones',
        threads: NODE_THREADS,
        graphs,
        convFloor: convFloor(graphs),
      };
    } catch (e) {
      result.ops = { error: errText(e) };
    }
  }

  const wantWasm = !skip.has('wasm');
  const wantGpu = !skip.has('webgpu');
  const loadPack = resolve(str(flags, 'load-pack') ?? join('public/models', pack));
  if (!skip.has('load') && !existsSync(join(loadPack, 'manifest.json'))) throw new CliError(`--load-pack: no manifest.json in ${loadPack}`);
  if (wantWasm || wantGpu || !skip.has('static') || !skip.has('load')) {
    if (!flags['no-build']) build(outDir);
    else if (!existsSync(join(outDir, 'bench.html'))) throw new CliError(`--no-build: ${outDir} has no built bench.html`);
    const { url, proc } = await startPreview(outDir);
    log(`serving ${outDir} at ${url}`);
    const browser = await launchChromium();
    try {
      const device = await browserDevice(browser, url);
      result.machine = describeMachine(host, { version: browser.version(), device });
      log(`machine: ${(result.machine as { summary: string }).summary}`);
      const packScale = async (p: string) => scale ?? (await (await fetch(`${url}models/${p}/manifest.json`)).json() as { sampling: { classifierScale: number } }).sampling.classifierScale;
      if (wantWasm) result.chromiumWasm = await benchChromium(browser, url, pack, 'wasm', steps, await packScale(pack), !skip.has('bare'), timeoutMs, bareWarm);
      if (wantWasm && wantBatch) {
        log(`chromium wasm: batches ${batches.join(',')} (bare loop), then the app's sweep view`);
        try {
          batch.wasm = await benchBrowserBatches(browser, url, pack, 'wasm', batches, steps, timeoutMs, log);
        } catch (e) {
          batch.wasm = { error: errText(e) };
        }
        try {
          const sweep = await benchFull(browser, url, pack, 'wasm', Math.max(2, Math.min(steps, 5)), await packScale(pack), timeoutMs, '&view=sweep');
          batch.wasmSweepApp = { ...sweep, cells: 12, note: 'the app streaming the default sweep (12 cells, one batch per step)' };
          log(`chromium wasm sweep view: ${sweep.msPerStep} ms/step, ${sweep.longTasks.count} long tasks (max ${sweep.longTasks.maxMs} ms)`);
        } catch (e) {
          batch.wasmSweepApp = { error: errText(e) };
        }
      }
      if (wantGpu) {
        const adapter = device.adapter;
        const where = adapter ? `the ${[adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'reported'} adapter` : 'no WebGPU adapter';
        result.chromiumWebgpu = {
          ...(await benchChromium(browser, url, webgpuPack, 'webgpu', webgpuSteps, await packScale(webgpuPack), !skip.has('bare'), timeoutMs)),
          note: webgpuPack === pack ? undefined : `measured on the ${webgpuPack} pack, not ${pack} (--webgpu-pack to change); WebGPU ran on ${where} (machine.webgpuAdapter)`,
        };
      }
      if (!skip.has('static')) result.staticHost = await benchStatic(browser, outDir, pack, Math.max(2, Math.min(steps, 5)), await packScale(pack), timeoutMs);
      if (!skip.has('load')) result.load = await benchLoad(url, outDir, loadPack, timeoutMs * 2);
    } finally {
      await browser.close();
      proc.kill();
    }
  }
  if (wantBatch) result.batch = batch;
  const lt = (part: unknown) => (part as { longTasks?: unknown } | undefined)?.longTasks ?? null;
  result.longTasks = { wasm: lt(result.chromiumWasm), webgpu: lt(result.chromiumWebgpu) };
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
});
