// Turns the UI's GenerateParams into the sampling loop's inputs for one pack. Pure and tested:
// every way a request can be wrong for this pack is rejected here with a sentence for the page.
import { createProcessForPack, spaceTimesteps } from '../../diffusion';
import { GUIDANCE_MODES, canUseCfg, labelOfImagenetIndex, modeUses, type PackManifest } from '../../shared/manifest';
import { inRange, scaleProblem } from '../../shared/scales';
import { LIMITS, type GenerateParams } from '../../shared/protocol';
import { planGrid } from './gridPlan';
import type { RunPlan } from './plan';

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

export function planRun(m: PackManifest, p: GenerateParams): RunPlan {
  if (!inRange(p.imagenetClass, LIMITS.imagenetClass, true)) throw new Error(`class ${p.imagenetClass} is not an ImageNet index 0..999`);
  const scaleBad = scaleProblem('classifierScale', p.classifierScale);
  if (scaleBad) throw new Error(scaleBad);
  if (!inRange(p.seed, LIMITS.seed, true)) throw new Error(`seed ${p.seed} is outside ${LIMITS.seed.min}..${LIMITS.seed.max}`);
  const mode = p.guidanceMode ?? 'classifier';
  if (!GUIDANCE_MODES.includes(mode)) throw new Error(`guidance mode "${String(mode)}" is not one of ${GUIDANCE_MODES.join(', ')}`);
  const uses = modeUses(mode);
  const cfgScale = p.cfgScale ?? 0;
  const cfgBad = scaleProblem('cfgScale', cfgScale);
  if (cfgBad) throw new Error(cfgBad);
  if (uses.cfg && !canUseCfg(m)) {
    throw new Error(`pack "${m.name}" cannot use classifier-free guidance (its U-Net has no unconditional label)`);
  }
  const gi = p.guidanceInterval ?? null;
  if (gi !== null) {
    const r = LIMITS.guidanceInterval;
    if (!Array.isArray(gi) || gi.length !== 2 || !inRange(gi[0], r, true) || !inRange(gi[1], r, true) || gi[0] > gi[1]) {
      throw new Error(`guidance interval ${String(gi)} must be two whole timesteps lo,hi with ${r.min} <= lo <= hi <= ${r.max}`);
    }
  }
  const T = m.diffusion.diffusionSteps;
  if (!inRange(p.steps, { min: 1, max: T }, true)) throw new Error(`steps must be a whole number from 1 to ${T} (got ${p.steps})`);

  const gradientAt = p.gradientAt ?? 'x';
  if (gradientAt !== 'x' && gradientAt !== 'mean') throw new Error(`gradientAt "${String(gradientAt)}" is not one of x, mean`);

  const label = labelOfImagenetIndex(m, p.imagenetClass);
  if (label < 0) throw new Error(`pack "${m.name}" does not know ImageNet class ${p.imagenetClass}`);
  const useDdim = p.sampler === 'ddim';
  if (p.grid) {
    const process = createProcessForPack(m, respacingFor(p.steps, useDdim, T));
    return planGrid(m, p, p.grid, { label, process, guidanceInterval: gi === null ? null : [gi[0], gi[1]], useDdim, gradientAt });
  }
  let unetLabels: Int32Array | null = null;
  if (m.classCond) {
    // Classifier-free guidance always conditions its first branch on the class.
    if (p.conditionUnet || uses.cfg) unetLabels = Int32Array.of(label);
    else if (m.unconditionalLabel !== null) unetLabels = Int32Array.of(m.unconditionalLabel);
    else throw new Error(`pack "${m.name}" cannot sample unconditionally (it has no unconditional label)`);
  }
  return {
    process: createProcessForPack(m, respacingFor(p.steps, useDdim, T)),
    shape: [1, 3, m.imageSize, m.imageSize],
    unetLabels,
    classifierLabels: m.classifierGrad && uses.classifier ? Int32Array.of(label) : null,
    nullLabels: uses.cfg ? Int32Array.of(m.unconditionalLabel as number) : null,
    guidanceMode: mode,
    guidanceInterval: gi === null ? null : [gi[0], gi[1]],
    useDdim,
    seed: p.seed,
    seeds: [p.seed],
    cellScales: null,
    gradientAt,
    grid: null,
  };
}
