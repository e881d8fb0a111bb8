// Turns the UI's GenerateParams into the sampling loop's inputs for one pack. Pure and tested:
// every way a request can be wrong for this pack is rejected here with a sentence for the page.
import { createProcessForPack, spaceTimesteps, type DiffusionProcess, type Shape4 } from '../diffusion';
import { labelOfImagenetIndex, type PackManifest } from '../shared/manifest';
import { LIMITS, type GenerateParams } from '../shared/protocol';

export interface RunPlan {
  process: DiffusionProcess;
  shape: Shape4;
  unetLabels: Int32Array | null;
  /** null when the pack has no classifier (then nothing steers but the U-Net's own label). */
  classifierLabels: Int32Array | null;
  useDdim: boolean;
  seed: number;
}

/** "ddimN" (the reference's DDIM spacing) when an integer stride gives N steps, else N even sections. */
export function respacingFor(steps: number, useDdim: boolean, diffusionSteps: number): string {
  if (useDdim) {
    try {
      spaceTimesteps(diffusionSteps, `ddim${steps}`);
      return `ddim${steps}`;
    } catch {
      // no exact stride: fall through to section spacing
    }
  }
  return String(steps);
}

function inRange(v: number, r: { min: number; max: number }, integer: boolean): boolean {
  return Number.isFinite(v) && v >= r.min && v <= r.max && (!integer || Number.isInteger(v));
}

export function planRun(m: PackManifest, p: GenerateParams): RunPlan {
  if (!inRange(p.imagenetClass, LIMITS.imagenetClass, true)) throw new Error(`class ${p.imagenetClass} is not an ImageNet index 0..999`);
  if (!inRange(p.classifierScale, LIMITS.classifierScale, false)) {
    throw new Error(`guidance scale ${p.classifierScale} is outside ${LIMITS.classifierScale.min}..${LIMITS.classifierScale.max}`);
  }
  if (!inRange(p.seed, LIMITS.seed, true)) throw new Error(`seed ${p.seed} is outside ${LIMITS.seed.min}..${LIMITS.seed.max}`);
  const T = m.diffusion.diffusionSteps;
  if (!inRange(p.steps, { min: 1, max: T }, true)) throw new Error(`steps must be a whole number from 1 to ${T} (got ${p.steps})`);

  const label = labelOfImagenetIndex(m, p.imagenetClass);
  if (label < 0) throw new Error(`pack "${m.name}" does not know ImageNet class ${p.imagenetClass}`);
  let unetLabels: Int32Array | null = null;
  if (m.classCond) {
    if (p.conditionUnet) unetLabels = Int32Array.of(label);
    else if (m.unconditionalLabel !== null) unetLabels = Int32Array.of(m.unconditionalLabel);
    else throw new Error(`pack "${m.name}" cannot sample unconditionally (it has no unconditional label)`);
  }
  const useDdim = p.sampler === 'ddim';
  return {
    process: createProcessForPack(m, respacingFor(p.steps, useDdim, T)),
    shape: [1, 3, m.imageSize, m.imageSize],
    unetLabels,
    classifierLabels: m.classifierGrad ? Int32Array.of(label) : null,
    useDdim,
    seed: p.seed,
  };
}
