// The classifier-gradient graph as the sampling loop and the grid read-outs call it: one session,
// checked against the manifest, run through a GraphIo. Created in the pack worker beside the U-Net
// (WebGPU, or the fallback) or in its own worker with its own ORT instance (gradientWorker.ts).
import type { ClassifierGradFn, Shape4 } from '../../diffusion/types';
import { GRAPH_IO, classifierLabelProblem, graphIoProblem, type PackManifest } from '../../shared/manifest';
import type { Ep } from '../../shared/protocol';
import type { GraphIo } from './graphIo';
import { IO, baseInputs, createSession, ioOptions, labelsInput, type GraphBytes } from './ortSession';

export type ClassifierReadoutFn = (
  x: Float32Array, timesteps: Float32Array, y: Int32Array, shape: Shape4,
) => Promise<{ logits: Float32Array; features: Float32Array | null }>;

export interface GradientSession {
  classifierGrad: ClassifierGradFn;
  /**
   * The gradient graph's logits [N, classes] and, when the graph has that output, its penultimate
   * features [N, C] (grid read-outs).
   */
  classifierReadout: ClassifierReadoutFn;
  /** Releases the session (not `io`, which its creator owns). */
  release(): Promise<void>;
}

/** The manifest fields the gradient session is checked against (all a worker needs to be sent). */
export type GradientManifest = Pick<PackManifest, 'labels'>;

export async function createGradientSession(manifest: GradientManifest, file: GraphBytes, ep: Ep, io: GraphIo): Promise<GradientSession> {
  const grad = await createSession(file, ep, ioOptions(ep));
  const problem = graphIoProblem(grad, GRAPH_IO.classifierGrad, true, file.name) ?? classifierLabelProblem(grad.outputMetadata, manifest, file.name);
  if (problem) {
    await grad.release();
    throw new Error(problem);
  }
  const fetches = grad.outputNames.includes(IO.features) ? [IO.logits, IO.features] : [IO.logits];
  return {
    classifierGrad: async (x, timesteps, y, shape) => {
      const out = await io.run(grad, { ...baseInputs(x, timesteps, shape), [IO.y]: labelsInput(y) }, [IO.grad, IO.logp]);
      return { grad: out[IO.grad], logp: out[IO.logp] };
    },
    classifierReadout: async (x, timesteps, y, shape) => {
      const out = await io.run(grad, { ...baseInputs(x, timesteps, shape), [IO.y]: labelsInput(y) }, fetches);
      return { logits: out[IO.logits], features: out[IO.features] ?? null };
    },
    release: () => grad.release(),
  };
}
