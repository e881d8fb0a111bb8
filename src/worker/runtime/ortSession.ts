// Creating one ONNX Runtime session from a graph's bytes, and the feeds every graph takes: shared by
// the pack worker's sessions (sessions.ts) and the gradient worker's (gradientWorker.ts).
import type * as ort from 'onnxruntime-web';
import type { Shape4 } from '../../diffusion/types';
import type { Ep } from '../../shared/protocol';
import { GRAPH_IO } from '../../shared/manifest';
import { externalDataProblem } from '../../shared/onnxExternal';
import type { GpuUploadDevice } from './gpu';
import type { Feed } from './gpuFeeds';
import { cpuGraphIo, gpuGraphIo, type GraphIo } from './graphIo';
import { ortFor } from './ortRuntime';
import type { SerialQueue } from './serialQueue';

/** ONNX I/O names fixed by docs/pack-format.md (parseManifest checks the manifest lists them). */
export const IO = GRAPH_IO.names;

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

/** WebGPU sessions leave their outputs on the GPU until read (graphIo.ts downloads them). */
export function ioOptions(ep: Ep): Partial<ort.InferenceSession.SessionOptions> {
  return ep === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' } : {};
}

export async function graphIoFor(ep: Ep, queue: SerialQueue): Promise<GraphIo> {
  const ortApi = await ortFor(ep);
  if (ep !== 'webgpu') return cpuGraphIo(ortApi, queue);
  return gpuGraphIo(ortApi, (await ortApi.env.webgpu.device) as unknown as GpuUploadDevice, queue);
}

export function baseInputs(x: Float32Array, timesteps: Float32Array, shape: Shape4): Record<string, Feed> {
  return {
    [IO.x]: { data: x, dims: shape },
    [IO.timesteps]: { data: timesteps, dims: [timesteps.length] },
  };
}

export function labelsInput(labels: Int32Array): Feed {
  return { data: BigInt64Array.from(labels, (v) => BigInt(v)), dims: [labels.length] };
}
