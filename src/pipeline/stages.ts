// The cascade's sequence, for the worker and the CLI alike: the base model's loop, then, when the
// pack has an upsampler and the base run finished, the upsampler's loop (unguided) on its final
// sample, with its own process and noise stream (src/diffusion/cascade.ts).
import {
  UPSAMPLE_STREAM, createGaussianRng, upsampleLoop, upsamplerProcess, type DenoiseFn, type DiffusionProcess, type StepRecord,
} from '../diffusion';
import type { PackManifest, UpsamplerGraph } from '../shared/manifest';

export interface CascadeStage {
  up: UpsamplerGraph;
  process: DiffusionProcess;
}

/** The upsampler stage of pack `m` when `enabled` and it has one; `respacing` overrides the upsampler's own. */
export function planCascade(m: PackManifest, enabled: boolean, respacing?: string): CascadeStage | null {
  if (!enabled || !m.upsampler) return null;
  return { up: m.upsampler, process: upsamplerProcess({ ...m, upsampler: m.upsampler }, respacing) };
}

export interface StageRecord {
  stage: 'base' | 'upsample';
  rec: StepRecord;
}

export interface UpsampleRun {
  stage: CascadeStage;
  denoiseWith: (lowRes: Float32Array) => DenoiseFn;
  /** The base samples' U-Net labels (a class-conditional upsampler needs them). */
  labels: Int32Array | null;
  /** The run's seed and batch index: the upsampler draws from createGaussianRng(seed, UPSAMPLE_STREAM + batch). */
  seed: number;
  batch: number;
  eta?: number;
  shouldStop?: () => boolean;
}

/** The base loop's records, then (when `cascade` is given and the base loop ran to its end) the upsampler's. */
export async function* baseThenUpsample(base: AsyncIterable<StepRecord>, cascade: UpsampleRun | null): AsyncGenerator<StageRecord, void, void> {
  let final: Float32Array | null = null;
  for await (const rec of base) {
    if (cascade && rec.step === rec.numSteps - 1) final = rec.x.slice();
    yield { stage: 'base', rec };
  }
  if (!cascade || !final) return;
  const { stage, denoiseWith, labels, seed, batch, eta, shouldStop } = cascade;
  for await (const rec of upsampleLoop({
    upsampler: stage.up, process: stage.process, base: final, denoiseWith, labels, eta, shouldStop,
    rng: createGaussianRng(seed, UPSAMPLE_STREAM + batch),
  })) {
    yield { stage: 'upsample', rec };
  }
}
