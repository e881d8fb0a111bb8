// The only module that creates ONNX Runtime sessions. It turns a pack's graphs into the
// DenoiseFn / ClassifierGradFn the sampling loop calls, and disposes every tensor it makes.
import type * as ort from 'onnxruntime-web';
import type { ClassifierGradFn, DenoiseFn, Shape4 } from '../diffusion/types';
import type { Ep } from '../shared/protocol';
import { GRAPH_IO, classifierLabelProblem, graphIoProblem, type PackManifest, type UpsamplerGraph } from '../shared/manifest';
import { loadedOrt, ortFor, type Ort } from './ortRuntime';
import type { SerialQueue } from './serialQueue';

/** ONNX I/O names fixed by docs/pack-format.md (parseManifest checks the manifest lists them). */
const IO = GRAPH_IO.names;

export interface ModelSessions {
  denoise: DenoiseFn;
  classifierGrad: ClassifierGradFn | null;
  /** The gradient graph's logits [N, classes] (grid diversity read-out); null without a classifier. */
  classifierLogits: ((x: Float32Array, timesteps: Float32Array, y: Int32Array, shape: Shape4) => Promise<Float32Array>) | null;
  release(): Promise<void>;
}

export function sessionOptions(ep: Ep): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [ep === 'webgpu' ? { name: 'webgpu' } : { name: 'wasm' }],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3, // errors only: CPU placement of shape ops is expected, not worth a warning
  };
}

/**
 * A graph's bytes as the worker loaded them. `externalData`: the bytes of its ONNX external-data files
 * (manifest `externalData`, docs/pack-format.md "Graphs over 2 GB"), `path` being the file name the graph
 * records (= externalData[i].file); ORT resolves the graph's initializers from them.
 */
export interface GraphBytes {
  name: string;
  bytes: Uint8Array;
  externalData?: readonly { path: string; data: Uint8Array }[];
}

/** Session creation with the file named in the error (ORT's own message says "protobuf parsing failed"). */
export async function createSession(file: GraphBytes, ep: Ep): Promise<ort.InferenceSession> {
  try {
    const ort = await ortFor(ep);
    const options = sessionOptions(ep);
    if (file.externalData?.length) options.externalData = file.externalData;
    return await ort.InferenceSession.create(file.bytes, options);
  } catch (e) {
    throw new Error(`${file.name}: ONNX Runtime (${ep}) could not load it: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

export async function createModelSessions(
  manifest: PackManifest,
  unetFile: GraphBytes,
  gradFile: GraphBytes | null,
  ep: Ep,
  queue: SerialQueue,
): Promise<ModelSessions> {
  const ort = await ortFor(ep);
  const unet = await createSession(unetFile, ep);
  let grad: ort.InferenceSession | null = null;
  try {
    const unetProblem = graphIoProblem(unet, GRAPH_IO.unet, manifest.classCond, unetFile.name);
    if (unetProblem) throw new Error(unetProblem);
    grad = gradFile ? await createSession(gradFile, ep) : null;
    const problem = grad && gradFile
      ? graphIoProblem(grad, GRAPH_IO.classifierGrad, true, gradFile.name) ?? classifierLabelProblem(grad.outputMetadata, manifest, gradFile.name)
      : null;
    if (problem) throw new Error(problem);
  } catch (e) {
    await grad?.release();
    await unet.release();
    throw e;
  }
  const classCond = manifest.classCond;
  const denoise: DenoiseFn = (x, timesteps, y, shape) =>
    queue.run(async () => {
      const feeds = baseFeeds(ort, x, timesteps, shape);
      if (classCond) {
        if (!y) throw new Error('this U-Net is class-conditional but no labels were given');
        feeds[IO.y] = int64Tensor(ort, y);
      }
      return withOutputs(await unet.run(feeds), feeds, (out) => floatData(out, IO.modelOutput));
    });
  const classifierGrad: ClassifierGradFn | null = grad
    ? (x, timesteps, y, shape) =>
        queue.run(async () => {
          const feeds = baseFeeds(ort, x, timesteps, shape);
          feeds[IO.y] = int64Tensor(ort, y);
          const g = grad;
          return withOutputs(await g.run(feeds, [IO.grad, IO.logp]), feeds, (out) => ({
            grad: floatData(out, IO.grad),
            logp: floatData(out, IO.logp),
          }));
        })
    : null;
  const classifierLogits: ModelSessions['classifierLogits'] = grad
    ? (x, timesteps, y, shape) =>
        queue.run(async () => {
          const feeds = baseFeeds(ort, x, timesteps, shape);
          feeds[IO.y] = int64Tensor(ort, y);
          return withOutputs(await grad.run(feeds, [IO.logits]), feeds, (out) => floatData(out, IO.logits));
        })
    : null;
  return {
    denoise,
    classifierGrad,
    classifierLogits,
    release: () => queue.run(async () => {
      await unet.release();
      await grad?.release();
    }),
  };
}

/** The cascade's second stage (manifest `upsampler`): a DenoiseFn per base batch, fed that batch's samples as low_res. */
export interface UpsamplerSession {
  /** `lowRes`: the base model's samples [N, 3, lowResSize, lowResSize] in [-1, 1] (the DenoiseFn's batch is N rows). */
  denoiseWith(lowRes: Float32Array): DenoiseFn;
  release(): Promise<void>;
}

export async function createUpsamplerSession(up: UpsamplerGraph, file: GraphBytes, ep: Ep, queue: SerialQueue): Promise<UpsamplerSession> {
  const ort = await ortFor(ep);
  const session = await createSession(file, ep);
  const problem = graphIoProblem(session, GRAPH_IO.upsampler, up.classCond, file.name);
  if (problem) {
    await session.release();
    throw new Error(problem);
  }
  const s = up.lowResSize;
  return {
    denoiseWith: (lowRes) => (x, timesteps, y, shape) =>
      queue.run(async () => {
        const n = shape[0];
        if (lowRes.length !== n * 3 * s * s) throw new Error(`low_res holds ${lowRes.length} values, not ${n}x3x${s}x${s}`);
        const feeds = baseFeeds(ort, x, timesteps, shape);
        feeds[IO.lowRes] = new ort.Tensor('float32', lowRes, [n, 3, s, s]);
        if (up.classCond) {
          if (!y) throw new Error('this upsampler is class-conditional but no labels were given');
          feeds[IO.y] = int64Tensor(ort, y);
        }
        return withOutputs(await session.run(feeds), feeds, (out) => floatData(out, IO.modelOutput));
      }),
    release: () => queue.run(() => session.release()),
  };
}

function baseFeeds(ort: Ort, x: Float32Array, timesteps: Float32Array, shape: Shape4): Record<string, ort.Tensor> {
  return {
    [IO.x]: new ort.Tensor('float32', x, [...shape]),
    [IO.timesteps]: new ort.Tensor('float32', timesteps, [timesteps.length]),
  };
}

function int64Tensor(ort: Ort, labels: Int32Array): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(labels, (v) => BigInt(v)), [labels.length]);
}

function floatData(out: ort.InferenceSession.ReturnType, name: string): Float32Array {
  const t = out[name];
  if (!t || t.type !== 'float32') throw new Error(`model output "${name}" is missing or not float32`);
  // CPU-located outputs are fresh copies out of the wasm heap / GPU readback; safe after dispose.
  return t.data as Float32Array;
}

/** Reads what is needed, then frees every input and output tensor (GPU buffers included). */
function withOutputs<T>(out: ort.InferenceSession.ReturnType, feeds: Record<string, ort.Tensor>, read: (o: ort.InferenceSession.ReturnType) => T): T {
  try {
    return read(out);
  } finally {
    for (const t of Object.values(out)) t.dispose();
    for (const t of Object.values(feeds)) t.dispose();
  }
}

/** The GPUDevice ORT created, once a WebGPU session exists (for device-loss reporting). */
export async function ortGpuDevice(): Promise<unknown> {
  const ort = loadedOrt('webgpu');
  return ort ? (await ort).env.webgpu.device : undefined;
}

/** A 70-byte ONNX graph (one Identity op, opset 17): creating a session of it starts ORT's runtime. */
const STARTER_MODEL = Uint8Array.from(atob('CAgSADo6ChAKAXgSAXkiCElkZW50aXR5EgRpbml0Wg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQEQ=='), (c) => c.charCodeAt(0));

/**
 * Starts ONNX Runtime for `ep` (fetching and compiling its WebAssembly, starting its threads, and on
 * WebGPU getting the device) by creating and releasing a session of a trivial graph, so that this
 * one-time start-up can overlap the model downloads instead of being charged to the first real
 * session. Resolves with its duration in ms, or null when it failed (the real session then reports).
 */
export async function startRuntime(ep: Ep): Promise<number | null> {
  const t0 = performance.now();
  try {
    const ort = await ortFor(ep);
    const s = await ort.InferenceSession.create(STARTER_MODEL, sessionOptions(ep));
    await s.release();
    return performance.now() - t0;
  } catch {
    return null;
  }
}
