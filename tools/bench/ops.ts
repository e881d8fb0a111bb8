// Where the wasm gap goes (issue 11), a part of tools/bench.ts: ONNX Runtime's own per-op profile of
// the pack's two graphs, batch 1, on onnxruntime-node (CPU EP) and on onnxruntime-web's wasm EP run
// in Node (the same plain SIMD wasm build the app's wasm EP runs: src/worker/runtime/ortRuntime.ts), same
// thread count, same fixed inputs. Per op type: ms in the last profiled run and the wasm ÷ node ratio.
//
// ORT-node writes its profile to a file (profileFilePrefix); ORT-web prints it as JSON lines on stdout,
// so its side runs in a child process whose output is parsed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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
  args?: { op_name?: string };
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

export interface GraphOps {
  graph: string;
  /** Median ms of session.run over the timed runs (profiling on: a little slower than the bench's steps). */
  nodeMs: number;
  wasmMs: number;
  ratio: number;
  /** Op types by wasm time, largest first; the run profiled is the last one. */
  ops: OpRow[];
}

/** Kernel time per op type in the LAST model_run of a profile. */
export function opTimes(events: readonly ProfileEvent[]): Map<string, { ms: number; count: number }> {
  const runs = events.filter((e) => e.name === 'model_run' && e.ts !== undefined && e.dur !== undefined);
  const last = runs.at(-1);
  if (!last) throw new Error('the profile has no model_run event');
  const from = last.ts as number;
  const to = from + (last.dur as number);
  const out = new Map<string, { ms: number; count: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || e.ts === undefined || e.ts < from || e.ts > to) continue;
    const op = e.args?.op_name ?? '?';
    const row = out.get(op) ?? { ms: 0, count: 0 };
    row.ms += (e.dur ?? 0) / 1000;
    row.count += 1;
    out.set(op, row);
  }
  return out;
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

async function timedRuns(run: () => Promise<unknown>, runs: number): Promise<number> {
  await run(); // warm-up
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
    const ms = await timedRuns(() => s.run(fixedFeeds(ort.Tensor, 1, size, withY)), runs);
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
 */
async function profileWasm(path: string, threads: number, runs: number, size: number, withY: boolean) {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--wasm-child', path, String(threads), String(runs), String(size), withY ? '1' : '0'];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = out.split('\n');
  const result = lines.find((l) => l.startsWith(RESULT));
  if (!result) throw new Error('the onnxruntime-web child printed no result');
  const { ms } = JSON.parse(result.slice(RESULT.length)) as { ms: number };
  return { ms, ops: opTimes(parseWebProfile(lines)) };
}

const RESULT = 'OPS-RESULT ';

async function wasmChild(path: string, threads: number, runs: number, size: number, withY: boolean): Promise<void> {
  // In Node, 'onnxruntime-web' resolves to its Node build, which runs the plain SIMD wasm.
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const s = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all', enableProfiling: true,
  });
  const ms = await timedRuns(() => s.run(fixedFeeds(ort.Tensor, 1, size, withY)), runs);
  s.endProfiling();
  await s.release();
  process.stdout.write(`\n${RESULT}${JSON.stringify({ ms })}\n`);
}

if (process.argv[2] === '--wasm-child') {
  const [path, threads, runs, size, withY] = process.argv.slice(3);
  wasmChild(path, Number(threads), Number(runs), Number(size), withY === '1').then(
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

export async function benchOps(packDir: string, threads: number, runs: number, log: (s: string) => void): Promise<GraphOps[]> {
  const pack = await loadPack(packDir);
  const m = pack.manifest;
  const graphs: { graph: string; path: string; withY: boolean }[] = [{ graph: 'unet', path: pack.unetPath, withY: m.classCond }];
  if (pack.classifierGradPath) graphs.push({ graph: 'classifierGrad', path: pack.classifierGradPath, withY: true });
  const out: GraphOps[] = [];
  for (const g of graphs) {
    log(`ops: ${g.graph} on onnxruntime-node and onnxruntime-web wasm (${threads} threads, ${runs} runs each)`);
    const node = await profileNode(g.path, threads, runs, m.imageSize, g.withY);
    const wasm = await profileWasm(g.path, threads, runs, m.imageSize, g.withY);
    const names = new Set([...node.ops.keys(), ...wasm.ops.keys()]);
    const ops: OpRow[] = [...names].map((op) => {
      const n = node.ops.get(op) ?? { ms: 0, count: 0 };
      const w = wasm.ops.get(op) ?? { ms: 0, count: 0 };
      return { op, nodeMs: round(n.ms), wasmMs: round(w.ms), ratio: n.ms > 0.01 ? round(w.ms / n.ms) : null, nodeCount: n.count, wasmCount: w.count };
    }).sort((a, b) => b.wasmMs - a.wasmMs || b.nodeMs - a.nodeMs);
    out.push({ graph: g.graph, nodeMs: round(node.ms), wasmMs: round(wasm.ms), ratio: round(wasm.ms / node.ms), ops });
    log(`ops: ${g.graph} node ${round(node.ms)} ms, wasm ${round(wasm.ms)} ms; top: ${ops.slice(0, 3).map((o) => `${o.op} ${o.wasmMs}/${o.nodeMs}`).join(', ')}`);
  }
  return out;
}
