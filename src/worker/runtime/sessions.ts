// The only module that creates ONNX Runtime sessions. It turns a pack's graphs into the
// DenoiseFn / ClassifierGradFn the sampling loop calls; graphIo.ts moves their tensors.
import type * as ort from 'onnxruntime-web';
import type { ClassifierGradFn, DenoiseFn, Shape4 } from '../../diffusion/types';
import type { Ep } from '../../shared/protocol';
import { GRAPH_IO, classifierLabelProblem, graphIoProblem, type PackManifest, type UpsamplerGraph } from '../../shared/manifest';
import { externalDataProblem } from '../../shared/onnxExternal';
import type { GpuUploadDevice } from './gpu';
import type { Feed } from './gpuFeeds';
import { cpuGraphIo, gpuGraphIo, type GraphIo } from './graphIo';
import { loadedOrt, ortFor } from './ortRuntime';
import type { SerialQueue } from './serialQueue';

/** ONNX I/O names fixed by docs/pack-format.md (parseManifest checks the manifest lists them). */
const IO = GRAPH_IO.names;

export type ClassifierReadoutFn = (
  x: Float32Array, timesteps: Float32Array, y: Int32Array, shape: Shape4,
) => Promise<{ logits: Float32Array; features: Float32Array | null }>;

export interface ModelSessions {
  denoise: DenoiseFn;
  classifierGrad: ClassifierGradFn | null;
  /**
   * The gradient graph's logits [N, classes] and, when the graph has that output, its penultimate
   * features [N, C] (grid read-outs); null without a classifier.
   */
  classifierReadout: ClassifierReadoutFn | null;
  /** WebGPU: inputs uploaded once and shared by the graphs, outputs read back from GPU buffers (graphIo.ts). */
  gpuResidentIo: boolean;
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
export async function createSession(file: GraphBytes, ep: Ep, extra: Partial<ort.InferenceSession.SessionOptions> = {}): Promise<ort.InferenceSession> {
  // The graph may read external data only from the files the manifest lists (handed over below).
  const problem = externalDataProblem(file.bytes, file.name, (file.externalData ?? []).map((e) => e.path));
  if (problem) throw new Error(problem);
  try {
    const ort = await ortFor(ep);
    const options = { ...sessionOptions(ep), ...extra };
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
  const unet = await createSession(unetFile, ep, ioOptions(ep));
  let grad: ort.InferenceSession | null = null;
  let io: GraphIo;
  try {
    const unetProblem = graphIoProblem(unet, GRAPH_IO.unet, manifest.classCond, unetFile.name);
    if (unetProblem) throw new Error(unetProblem);
    grad = gradFile ? await createSession(gradFile, ep, ioOptions(ep)) : null;
    const problem = grad && gradFile
      ? graphIoProblem(grad, GRAPH_IO.classifierGrad, true, gradFile.name) ?? classifierLabelProblem(grad.outputMetadata, manifest, gradFile.name)
      : null;
    if (problem) throw new Error(problem);
    io = await graphIo(ep, queue);
  } catch (e) {
    await grad?.release();
    await unet.release();
    throw e;
  }
  const classCond = manifest.classCond;
  const denoise: DenoiseFn = async (x, timesteps, y, shape) => {
    const inputs = baseInputs(x, timesteps, shape);
    if (classCond) {
      if (!y) throw new Error('this U-Net is class-conditional but no labels were given');
      inputs[IO.y] = labelsInput(y);
    }
    return (await io.run(unet, inputs, [IO.modelOutput]))[IO.modelOutput];
  };
  const classifierGrad: ClassifierGradFn | null = grad
    ? async (x, timesteps, y, shape) => {
        const out = await io.run(grad, { ...baseInputs(x, timesteps, shape), [IO.y]: labelsInput(y) }, [IO.grad, IO.logp]);
        return { grad: out[IO.grad], logp: out[IO.logp] };
      }
    : null;
  const fetches = grad?.outputNames.includes(IO.features) ? [IO.logits, IO.features] : [IO.logits];
  const classifierReadout: ClassifierReadoutFn | null = grad
    ? async (x, timesteps, y, shape) => {
        const out = await io.run(grad, { ...baseInputs(x, timesteps, shape), [IO.y]: labelsInput(y) }, fetches);
        return { logits: out[IO.logits], features: out[IO.features] ?? null };
      }
    : null;
  return {
    denoise,
    classifierGrad,
    classifierReadout,
    gpuResidentIo: io.gpuResident,
    release: () => queue.run(async () => {
      await unet.release();
      await grad?.release();
      io.release();
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
  const session = await createSession(file, ep, ioOptions(ep));
  let io: GraphIo;
  try {
    const problem = graphIoProblem(session, GRAPH_IO.upsampler, up.classCond, file.name);
    if (problem) throw new Error(problem);
    io = await graphIo(ep, queue);
  } catch (e) {
    await session.release();
    throw e;
  }
  const s = up.lowResSize;
  return {
    denoiseWith: (lowRes) => async (x, timesteps, y, shape) => {
      const n = shape[0];
      if (lowRes.length !== n * 3 * s * s) throw new Error(`low_res holds ${lowRes.length} values, not ${n}x3x${s}x${s}`);
      const inputs = baseInputs(x, timesteps, shape);
      inputs[IO.lowRes] = { data: lowRes, dims: [n, 3, s, s] };
      if (up.classCond) {
        if (!y) throw new Error('this upsampler is class-conditional but no labels were given');
        inputs[IO.y] = labelsInput(y);
      }
      return (await io.run(session, inputs, [IO.modelOutput]))[IO.modelOutput];
    },
    release: () => queue.run(async () => {
      await session.release();
      io.release();
    }),
  };
}

/** WebGPU sessions leave their outputs on the GPU until read (graphIo.ts downloads them). */
function ioOptions(ep: Ep): Partial<ort.InferenceSession.SessionOptions> {
  return ep === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' } : {};
}

async function graphIo(ep: Ep, queue: SerialQueue): Promise<GraphIo> {
  const ortApi = await ortFor(ep);
  if (ep !== 'webgpu') return cpuGraphIo(ortApi, queue);
  return gpuGraphIo(ortApi, (await ortApi.env.webgpu.device) as unknown as GpuUploadDevice, queue);
}

function baseInputs(x: Float32Array, timesteps: Float32Array, shape: Shape4): Record<string, Feed> {
  return {
    [IO.x]: { data: x, dims: shape },
    [IO.timesteps]: { data: timesteps, dims: [timesteps.length] },
  };
}

function labelsInput(labels: Int32Array): Feed {
  return { data: BigInt64Array.from(labels, (v) => BigInt(v)), dims: [labels.length] };
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
