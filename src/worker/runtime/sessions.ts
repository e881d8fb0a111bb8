// Turns a pack's graphs into the pack worker's ONNX Runtime sessions (created by ortSession.ts) and
// the DenoiseFn / ClassifierGradFn the sampling loop calls; graphIo.ts moves their tensors. On the wasm
// EP the gradient graph may live in a worker of its own (gradientClient.ts) so that it runs while the
// U-Net runs; where that worker cannot start, it is created here as before.
import type { ClassifierGradFn, DenoiseFn } from '../../diffusion/types';
import type { Ep } from '../../shared/protocol';
import { GRAPH_IO, graphIoProblem, type PackManifest, type UpsamplerGraph } from '../../shared/manifest';
import { openRemoteGradient, type SpawnGradient } from './gradientClient';
import { createGradientSession, type ClassifierReadoutFn, type GradientSession } from './gradientSession';
import type { GraphIo } from './graphIo';
import { IO, baseInputs, createSession, graphIoFor, ioOptions, labelsInput, type GraphBytes } from './ortSession';
import { loadedOrt } from './ortRuntime';
import type { SerialQueue } from './serialQueue';

export type { ClassifierReadoutFn } from './gradientSession';
export type { GraphBytes } from './ortSession';

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
  /** Threads of the gradient worker's ORT instance; null where the gradient graph runs in this worker's. */
  gradientWorkerThreads: number | null;
  /** Why the gradient graph runs in this worker although a worker of its own was asked for; null otherwise. */
  gradientNote: string | null;
  release(): Promise<void>;
}

/** A worker of its own for the gradient graph (wasm): how to start one and with how many threads. */
export interface GradientApart {
  spawn: SpawnGradient;
  threads: number;
  /**
   * The graphs fit the 4 GiB wasm heap only in two instances (graphChoice.ts): no fallback into this
   * worker's instance then, the worker's failure fails the load.
   */
  required: boolean;
}

export async function createModelSessions(
  manifest: PackManifest,
  unetFile: GraphBytes,
  gradFile: GraphBytes | null,
  ep: Ep,
  queue: SerialQueue,
  apart: GradientApart | null = null,
): Promise<ModelSessions> {
  const unet = await createSession(unetFile, ep, ioOptions(ep));
  let grad: GradientSession | null = null;
  let io: GraphIo;
  let gradientWorkerThreads: number | null = null;
  let gradientNote: string | null = null;
  try {
    const unetProblem = graphIoProblem(unet, GRAPH_IO.unet, manifest.classCond, unetFile.name);
    if (unetProblem) throw new Error(unetProblem);
    io = await graphIoFor(ep, queue);
    if (gradFile) {
      const g = await openGradient(apart, () => openRemoteGradient(apart!.spawn, gradFile, manifest, apart!.threads), () => createGradientSession(manifest, gradFile, ep, io), gradFile.name);
      ({ session: grad, workerThreads: gradientWorkerThreads, note: gradientNote } = g);
    }
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
  const g = grad;
  return {
    denoise,
    classifierGrad: g ? g.classifierGrad : null,
    classifierReadout: g ? g.classifierReadout : null,
    gpuResidentIo: io.gpuResident,
    gradientWorkerThreads,
    gradientNote,
    release: () => queue.run(async () => {
      await unet.release();
      await g?.release();
      io.release();
    }),
  };
}

/**
 * The gradient session: in its own worker where `apart` asks for it, else (or where that worker could
 * not start, unless `apart.required`) beside the U-Net, with a console note saying why.
 */
export async function openGradient(
  apart: GradientApart | null, remote: () => Promise<GradientSession>, local: () => Promise<GradientSession>, file: string,
): Promise<{ session: GradientSession; workerThreads: number | null; note: string | null }> {
  if (!apart) return { session: await local(), workerThreads: null, note: null };
  try {
    return { session: await remote(), workerThreads: apart.threads, note: null };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (apart.required) throw new Error(`${file} needs a WebAssembly instance of its own here, which could not be started: ${why}`, { cause: e });
    const note = `classifier gradient in the U-Net's instance (its own worker failed: ${why})`;
    console.info(`[pack] ${note}`);
    return { session: await local(), workerThreads: null, note };
  }
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
    io = await graphIoFor(ep, queue);
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

/** The GPUDevice ORT created, once a WebGPU session exists (for device-loss reporting). */
export async function ortGpuDevice(): Promise<unknown> {
  const ort = loadedOrt('webgpu');
  return ort ? (await ort).env.webgpu.device : undefined;
}
