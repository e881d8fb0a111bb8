// Where the wasm gap goes (issue 11), a part of tools/bench.ts: ONNX Runtime's own per-op profile of
// the pack's two graphs, batch 1, on onnxruntime-node (CPU EP) and on onnxruntime-web's wasm EP run
// in Node (the same plain SIMD wasm build the app's wasm EP runs: src/worker/runtime/ortRuntime.ts), same
// thread count, same fixed inputs. Per op type: ms in the last profiled run and the wasm ÷ node ratio.
// Per graph, the wasm run's convolutions (GFLOP, ms, GFLOP/s), and for the pair the ratio they alone
// allow (convFloor): how much of the guided step's cost is arithmetic the graphs cannot shed.
//
// ORT-node writes its profile to a file (profileFilePrefix); ORT-web prints it as JSON lines on stdout,
// so its side runs in a child process whose output is parsed.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GRAPH_IO } from '../../src/shared/manifest';
import { loadPack } from '../lib/pack';
import { median, round } from './report';

const IO = GRAPH_IO.names;

interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

export interface OpRow {
  op: string;
  nodeMs: number;
  wasmMs: number;
  /** wasm ÷ node (null when node spent no measurable time). */
  ratio: number | null;
  nodeCount: number;
  wasmCount: number;
}

/** The wasm run's convolutions: their arithmetic (from the shapes the profile records) and kernel time. */
export interface ConvWork {
  gflop: number;
  ms: number;
  gflopPerS: number;
  count: number;
}

export interface GraphOps {
  graph: string;
  /** Median ms of session.run over the timed runs (profiling on: a little slower than the bench's steps). */
  nodeMs: number;
  wasmMs: number;
  ratio: number;
  /** Op types by wasm time, largest first; the run profiled is the last one. */
  ops: OpRow[];
  /** null: the graph has no convolution (or the profile recorded no shapes). */
  wasmConv: ConvWork | null;
}

/**
 * What the convolutions alone would allow: guided ÷ unguided = 1 + (gradient conv FLOPs ÷ U-Net conv
 * FLOPs) if the gradient graph were nothing but its convolutions, run as fast per FLOP as the U-Net's.
 * Everything else in it (norms, activations, their backward) adds to this floor.
 */
export interface ConvFloor {
  gflopRatio: number;
  guidedOverUnguided: number;
}

/** The kernel events of the LAST model_run (ORT profiles every run while profiling is on). */
function lastRunKernels(events: readonly ProfileEvent[]): ProfileEvent[] {
  const runs = events.filter((e) => e.name === 'model_run' && e.ts !== undefined && e.dur !== undefined);
  const last = runs.at(-1);
  if (!last) throw new Error('the profile has no model_run event');
  const from = last.ts as number;
  const to = from + (last.dur as number);
  return events.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time') && e.ts !== undefined && e.ts >= from && e.ts <= to);
}

/** Kernel time per op type in the LAST model_run of a profile. */
export function opTimes(events: readonly ProfileEvent[]): Map<string, { ms: number; count: number }> {
  const out = new Map<string, { ms: number; count: number }>();
  for (const e of lastRunKernels(events)) {
    const op = e.args?.op_name ?? '?';
    const row = out.get(op) ?? { ms: 0, count: 0 };
    row.ms += (e.dur ?? 0) / 1000;
    row.count += 1;
    out.set(op, row);
  }
  return out;
}

const CONV_OPS = new Set(['Conv', 'FusedConv']);

/**
 * FLOPs of one Conv kernel from its recorded shapes: 2 × output elements × the weight's dims after the
 * first (Cin/group × kh × kw: one multiply-add each). null where the profile lacks the shapes.
 */
export function convFlops(e: ProfileEvent): number | null {
  const w = e.args?.input_type_shape?.[1];
  const y = e.args?.output_type_shape?.[0];
  const wDims = w && Object.values(w)[0];
  const yDims = y && Object.values(y)[0];
  if (!wDims || !yDims || wDims.length < 3) return null;
  const prod = (a: readonly number[]) => a.reduce((p, d) => p * d, 1);
  return 2 * prod(yDims) * prod(wDims.slice(1));
}

/** The last run's plain convolutions (Conv, FusedConv): GFLOP, kernel ms and their rate; null if none. */
export function convWork(events: readonly ProfileEvent[]): ConvWork | null {
  let flops = 0;
  let us = 0;
  let count = 0;
  for (const e of lastRunKernels(events)) {
    if (!CONV_OPS.has(e.args?.op_name ?? '')) continue;
    const f = convFlops(e);
    if (f === null) return null;
    flops += f;
    us += e.dur ?? 0;
    count += 1;
  }
  if (count === 0 || us === 0) return null;
  return { gflop: Math.round(flops / 1e6) / 1000, ms: round(us / 1000), gflopPerS: round(flops / 1e9 / (us / 1e6)), count };
}

/** The floor the convolutions set (ConvFloor); null unless both graphs' convolutions were measured. */
export function convFloor(graphs: readonly GraphOps[]): ConvFloor | null {
  const unet = graphs.find((g) => g.graph === 'unet')?.wasmConv;
  const grad = graphs.find((g) => g.graph === 'classifierGrad')?.wasmConv;
  if (!unet || !grad) return null;
  const gflopRatio = grad.gflop / unet.gflop;
  return { gflopRatio: round(gflopRatio), guidedOverUnguided: round(1 + gflopRatio) };
}

/** The JSON-lines profile ORT-web prints: one event object per line, in a JSON array. */
export function parseWebProfile(lines: readonly string[]): ProfileEvent[] {
  return lines.flatMap((l) => {
    const t = l.trim().replace(/,$/, '');
    if (!t.startsWith('{"cat"')) return [];
    try {
      return [JSON.parse(t) as ProfileEvent];
    } catch {
      return [];
    }
  });
}

/** `warm` untimed runs first (native code needs one; wasm more, see benchOps). */
async function timedRuns(run: () => Promise<unknown>, runs: number, warm: number): Promise<number> {
  for (let k = 0; k < warm; k++) await run();
  const ms: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    await run();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

async function profileNode(path: string, threads: number, runs: number, size: number, withY: boolean) {
  const ort = await import('onnxruntime-node');
  const dir = mkdtempSync(join(tmpdir(), 'ops-'));
  try {
    const s = await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
      enableProfiling: true, profileFilePrefix: join(dir, 'node'),
    });
    const ms = await timedRuns(() => s.run(fixedFeeds(ort.Tensor, 1, size, withY)), runs, 1);
    s.endProfiling();
    await s.release();
    // The file is named from the prefix and the start time: the one JSON file in the folder.
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime-node wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
    return { ms, ops: opTimes(events) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * ORT-web prints its profile through the Emscripten console, bound to stdout when its glue loads, so
 * the wasm side runs in a child process (this file with --wasm-child) whose stdout is parsed here.
 * Its stdout is a file, not a pipe: with a pipe, a child printing a profile of 30 runs (~37,000 lines)
 * hung now and then, its output cut short.
 */
async function profileWasm(path: string, threads: number, runs: number, warm: number, size: number, withY: boolean) {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--wasm-child', path, String(threads), String(runs), String(warm), String(size), withY ? '1' : '0'];
  const dir = mkdtempSync(join(tmpdir(), 'ops-wasm-'));
  let out: string;
  try {
    const file = join(dir, 'stdout.txt');
    const fd = openSync(file, 'w');
    try {
      execFileSync(process.execPath, args, { stdio: ['ignore', fd, 'inherit'], timeout: 10 * 60_000 });
    } finally {
      closeSync(fd);
    }
    out = readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = out.split('\n');
  const result = lines.find((l) => l.startsWith(RESULT));
  if (!result) throw new Error('the onnxruntime-web child printed no result');
  const { ms } = JSON.parse(result.slice(RESULT.length)) as { ms: number };
  const events = parseWebProfile(lines);
  return { ms, ops: opTimes(events), conv: convWork(events) };
}

const RESULT = 'OPS-RESULT ';

async function wasmChild(path: string, threads: number, runs: number, warm: number, size: number, withY: boolean): Promise<void> {
  // In Node, 'onnxruntime-web' resolves to its Node build, which runs the plain SIMD wasm.
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const s = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all', enableProfiling: true,
  });
  const ms = await timedRuns(() => s.run(fixedFeeds(ort.Tensor, 1, size, withY)), runs, warm);
  s.endProfiling();
  await s.release();
  process.stdout.write(`\n${RESULT}${JSON.stringify({ ms })}\n`);
}

if (process.argv[2] === '--wasm-child') {
  const [path, threads, runs, warm, size, withY] = process.argv.slice(3);
  wasmChild(path, Number(threads), Number(runs), Number(warm), Number(size), withY === '1').then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`ops (wasm child): ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}

interface TensorCtor<T> {
  new (type: 'float32', data: Float32Array, dims: number[]): T;
  new (type: 'int64', data: BigInt64Array, dims: number[]): T;
}

function fixedFeeds<T>(Tensor: TensorCtor<T>, n: number, size: number, withY: boolean): Record<string, T> {
  const x = Float32Array.from({ length: n * 3 * size * size }, (_, k) => Math.sin(k * 0.37));
  return {
    [IO.x]: new Tensor('float32', x, [n, 3, size, size]),
    [IO.timesteps]: new Tensor('float32', new Float32Array(n).fill(500), [n]),
    ...(withY ? { [IO.y]: new Tensor('int64', new BigInt64Array(n), [n]) } : {}),
  };
}

/**
 * `wasmWarm`: untimed wasm runs before the profiled ones. V8 first runs wasm as baseline code and optimises
 * the hot functions in the background; the gradient graph's many rarely-run kernels get there after ~20
 * runs (docs/benchmarks.md, "V8's two tiers"). The bench passes its --bare-warm.
 */
export async function benchOps(packDir: string, threads: number, runs: number, wasmWarm: number, log: (s: string) => void): Promise<GraphOps[]> {
  const pack = await loadPack(packDir);
  const m = pack.manifest;
  const graphs: { graph: string; path: string; withY: boolean }[] = [{ graph: 'unet', path: pack.unetPath, withY: m.classCond }];
  if (pack.classifierGradPath) graphs.push({ graph: 'classifierGrad', path: pack.classifierGradPath, withY: true });
  const out: GraphOps[] = [];
  for (const g of graphs) {
    log(`ops: ${g.graph} on onnxruntime-node and onnxruntime-web wasm (${threads} threads, ${runs} runs each)`);
    const node = await profileNode(g.path, threads, runs, m.imageSize, g.withY);
    const wasm = await profileWasm(g.path, threads, runs, wasmWarm, m.imageSize, g.withY);
    const names = new Set([...node.ops.keys(), ...wasm.ops.keys()]);
    const ops: OpRow[] = [...names].map((op) => {
      const n = node.ops.get(op) ?? { ms: 0, count: 0 };
      const w = wasm.ops.get(op) ?? { ms: 0, count: 0 };
      return { op, nodeMs: round(n.ms), wasmMs: round(w.ms), ratio: n.ms > 0.01 ? round(w.ms / n.ms) : null, nodeCount: n.count, wasmCount: w.count };
    }).sort((a, b) => b.wasmMs - a.wasmMs || b.nodeMs - a.nodeMs);
    out.push({ graph: g.graph, nodeMs: round(node.ms), wasmMs: round(wasm.ms), ratio: round(wasm.ms / node.ms), ops, wasmConv: wasm.conv });
    log(`ops: ${g.graph} node ${round(node.ms)} ms, wasm ${round(wasm.ms)} ms; top: ${ops.slice(0, 3).map((o) => `${o.op} ${o.wasmMs}/${o.nodeMs}`).join(', ')}`);
  }
  return out;
}
