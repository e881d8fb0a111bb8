// onnxruntime-node sessions wrapped as the pure layer's DenoiseFn / ClassifierGradFn.
// CPU execution provider; labels go in as int64, timesteps as float32 (docs/pack-format.md).
import * as ort from 'onnxruntime-node';
import type { ClassifierGradFn, DenoiseFn, Shape4 } from '../../src/diffusion';
import { GRAPH_IO } from '../../src/shared/manifest';
import { createSerialQueue } from '../../src/worker/runtime/serialQueue';
import { CliError } from './cli';
import type { VerifiedGraph } from './pack';

const IO = GRAPH_IO.names;

// The sampling loop asks for the classifier gradient while the U-Net runs (src/diffusion/guided.ts).
// Each session has its own intra-op thread pool on the same cores, so graphs run one at a time.
const runs = createSerialQueue();

/** session.run in turn with every other graph run here; `timer` gets the run's own time. */
function runTimed(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, fetches: string[], timer?: RunTimer) {
  return runs.run(async () => {
    const t0 = performance.now();
    const result = await session.run(feeds, fetches);
    if (timer) {
      timer.ms += performance.now() - t0;
      timer.calls++;
    }
    return result;
  });
}

/**
 * A session for a checked graph (tools/lib/pack.ts): from its bytes in memory, with its external-data
 * files given as bytes too, so ONNX Runtime reads no file. A graph ORT refuses is the pack's fault: CliError.
 * `spin: false` stops the session's idle threads from spin-waiting after a run (ORT's
 * session.intra_op.allow_spinning); see openGuidanceSession.
 */
export async function openSession(graph: VerifiedGraph, threads = 2, { spin = true } = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(graph.bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      ...(graph.externalData.length ? { externalData: graph.externalData } : {}),
      ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
    });
  } catch (e) {
    throw new CliError(`${graph.file}: ONNX Runtime could not load it: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The classifier-gradient session: it runs between two U-Net calls, and each session has its own
 * thread pool. With both pools spinning, the gradient graph's ~1.3k short kernels fought the U-Net
 * pool for the same two cores: a guided step of the default pack took 60 ms against 19 unguided.
 * Without spinning here (the U-Net keeps it) the step takes 35 ms and the unguided one is unchanged
 * (docs/benchmarks.md, "Two thread pools on two cores"). Thread counts do not change the results:
 * ORT's CPU kernels gave bit-identical outputs at 1 and 2 threads.
 */
export function openGuidanceSession(graph: VerifiedGraph, threads = 2): Promise<ort.InferenceSession> {
  return openSession(graph, threads, { spin: false });
}

const int64 = (labels: Int32Array) => BigInt64Array.from(labels, (v) => BigInt(v));

function output(result: ort.InferenceSession.OnnxValueMapType, name: string, dims: readonly number[]): Float32Array {
  const t = result[name] as ort.Tensor | undefined;
  if (!t) throw new Error(`graph has no output "${name}"`);
  if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, expected float32`);
  if (t.dims.length !== dims.length || t.dims.some((d, k) => d !== dims[k])) {
    throw new Error(`output ${name} has shape [${t.dims.join(',')}], expected [${dims.join(',')}]`);
  }
  return t.data as Float32Array;
}

/** Timing accumulator shared by the wrappers (ms spent inside session.run). */
export interface RunTimer {
  ms: number;
  calls: number;
}

/**
 * The U-Net as a DenoiseFn. `lowRes` (an upsampler, docs/pack-format.md): the base model's samples
 * [N, 3, size, size], fed as the graph's `low_res` input with every call (the batch must be N rows).
 */
export function ortDenoiser(
  session: ort.InferenceSession, outChannels: number, timer?: RunTimer, lowRes?: { data: Float32Array; size: number },
): DenoiseFn {
  const needsY = session.inputNames.includes(IO.y);
  return async (x: Float32Array, timesteps: Float32Array, y: Int32Array | null, shape: Shape4) => {
    const [n, c, h, w] = shape;
    const feeds: Record<string, ort.Tensor> = {
      [IO.x]: new ort.Tensor('float32', x, [n, c, h, w]),
      [IO.timesteps]: new ort.Tensor('float32', timesteps, [n]),
    };
    if (needsY) {
      if (!y) throw new Error('this U-Net is class-conditional: it needs labels y');
      feeds[IO.y] = new ort.Tensor('int64', int64(y), [n]);
    }
    if (lowRes) {
      if (lowRes.data.length !== n * 3 * lowRes.size * lowRes.size) throw new Error(`low_res holds ${lowRes.data.length} values, not ${n}x3x${lowRes.size}x${lowRes.size}`);
      feeds[IO.lowRes] = new ort.Tensor('float32', lowRes.data, [n, 3, lowRes.size, lowRes.size]);
    }
    const result = await runTimed(session, feeds, [IO.modelOutput], timer);
    return output(result, IO.modelOutput, [n, outChannels, h, w]);
  };
}

export function ortClassifierGrad(session: ort.InferenceSession, timer?: RunTimer): ClassifierGradFn {
  return async (x: Float32Array, timesteps: Float32Array, y: Int32Array, shape: Shape4) => {
    const [n, c, h, w] = shape;
    const feeds = {
      [IO.x]: new ort.Tensor('float32', x, [n, c, h, w]),
      [IO.timesteps]: new ort.Tensor('float32', timesteps, [n]),
      [IO.y]: new ort.Tensor('int64', int64(y), [n]),
    };
    const result = await runTimed(session, feeds, [IO.grad, IO.logp], timer);
    return { grad: output(result, IO.grad, [n, c, h, w]), logp: output(result, IO.logp, [n]) };
  };
}
