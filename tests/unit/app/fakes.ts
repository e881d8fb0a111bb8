// Test doubles for the app layer: a valid manifest, toy networks, a recording post(), a worker.
import type { ClassifierGradFn, DenoiseFn } from '../../../src/diffusion';
import type { GraphFile, PackManifest, UpsamplerGraph } from '../../../src/shared/manifest';
import type { FromWorker, ToWorker } from '../../../src/shared/protocol';
import type { WorkerLike } from '../../../src/ui/bridge/client';

const graph = (file: string, outputs: string[]): GraphFile => ({
  file, dtype: 'float32', bytes: 10, sha256: 'a'.repeat(64), inputs: ['x', 'timesteps', 'y'], outputs,
});

export function fakeManifest(over: Partial<PackManifest> = {}): PackManifest {
  return {
    schemaVersion: 1,
    name: 'fake8',
    title: 'Fake 8x8',
    imageSize: 8,
    learnSigma: true,
    classCond: true,
    unconditionalLabel: 3,
    labels: [0, 217, 482],
    diffusion: { noiseSchedule: 'cosine', diffusionSteps: 1000, predictXstart: false, rescaleTimesteps: false },
    sampling: { classifierScale: 2, timestepRespacing: 'ddim10', useDdim: true },
    unet: graph('unet.onnx', ['model_output']),
    classifierGrad: graph('classifier_grad.onnx', ['grad', 'logp', 'logits']),
    source: 'test',
    license: 'test',
    ...over,
  };
}

/** A valid upsampler entry (8 -> 32, class-conditional, learned sigma) for fakeManifest's 8x8 base. */
export function fakeUpsampler(over: Partial<UpsamplerGraph> = {}): UpsamplerGraph {
  return {
    file: 'upsampler.onnx', dtype: 'float32', bytes: 10, sha256: 'ab'.repeat(32),
    inputs: ['x', 'timesteps', 'low_res', 'y'], outputs: ['model_output'],
    imageSize: 32, lowResSize: 8, learnSigma: true, classCond: true,
    diffusion: { noiseSchedule: 'linear', diffusionSteps: 1000, predictXstart: false, rescaleTimesteps: false },
    sampling: { timestepRespacing: '250', useDdim: false },
    ...over,
  };
}

/** eps = 0.1 * x (and v = 0 when sigma is learned); records every call's labels. */
export function toyDenoise(calls: { y: number[] | null; t: number }[] = []): DenoiseFn {
  return async (x, timesteps, y, shape) => {
    calls.push({ y: y ? [...y] : null, t: timesteps[0] });
    const [n, , h, w] = shape;
    const out = new Float32Array(n * 6 * h * w);
    out.set(x.map((v) => 0.1 * v));
    return out;
  };
}

/** Pulls every pixel toward +0.5; logp = -mean squared distance. */
export function toyGrad(calls: number[][] = []): ClassifierGradFn {
  return async (x, _t, y) => {
    calls.push([...y]);
    const grad = x.map((v) => 0.5 - v);
    let sq = 0;
    for (const v of x) sq += (v - 0.5) ** 2;
    return { grad, logp: Float32Array.of(-sq / x.length) };
  };
}

export interface Posted {
  msg: FromWorker;
  transfer: Transferable[];
}

export function recorder(onPost?: (msg: FromWorker) => void) {
  const posted: Posted[] = [];
  return {
    posted,
    kinds: () => posted.map((p) => p.msg.kind),
    post(msg: FromWorker, transfer: Transferable[] = []) {
      posted.push({ msg, transfer });
      onPost?.(msg);
    },
  };
}

export const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The page's worker, recorded: what the client sent, whether it was terminated; `reply` answers as the worker. */
export class FakeWorker implements WorkerLike {
  sent: ToWorker[] = [];
  terminated = false;
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  postMessage(msg: ToWorker) {
    this.sent.push(msg);
  }
  terminate() {
    this.terminated = true;
  }
  reply(msg: FromWorker) {
    this.onmessage?.({ data: msg } as MessageEvent<FromWorker>);
  }
}
