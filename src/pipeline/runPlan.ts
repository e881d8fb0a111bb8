// Turns the page's GenerateParams (the protocol request, where its values enter) into the sampling
// loop's inputs for one pack. Pure and tested: every way a request can be wrong for this pack is
// rejected here with a sentence for the page, so nothing downstream checks again.
import { createProcessForPack, spaceTimesteps } from '../diffusion';
import type { PackManifest } from '../shared/manifest';
import { inRange } from '../shared/scales';
import { LIMITS, type GenerateParams } from '../shared/protocol';
import { planGrid } from './gridPlan';
import { checkModeForPack, checkScale, checkedMode } from './guidance';
import { packLabel, rowLabels } from './labels';
import type { RunPlan } from './plan';
import { planCascade } from './stages';

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
  checkScale('classifierScale', p.classifierScale);
  if (!inRange(p.seed, LIMITS.seed, true)) throw new Error(`seed ${p.seed} is outside ${LIMITS.seed.min}..${LIMITS.seed.max}`);
  const mode = checkedMode(p.guidanceMode);
  checkScale('cfgScale', p.cfgScale ?? 0);
  const uses = checkModeForPack(m, mode);
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

  const label = packLabel(m, p.imagenetClass);
  const useDdim = p.sampler === 'ddim';
  const process = createProcessForPack(m, respacingFor(p.steps, useDdim, T));
  const guidanceInterval = gi === null ? null : ([gi[0], gi[1]] as const);
  if (p.grid) return planGrid(m, p, p.grid, { label, process, guidanceInterval, useDdim, gradientAt });
  return {
    process,
    shape: [1, 3, m.imageSize, m.imageSize],
    labels: Int32Array.of(label),
    ...rowLabels(m, Int32Array.of(label), [mode], { conditionUnet: p.conditionUnet }),
    guidanceMode: mode,
    uses,
    guidanceInterval,
    useDdim,
    seed: p.seed,
    seeds: [p.seed],
    cellScales: null,
    gradientAt,
    cascade: planCascade(m, p.upsample !== false),
    grid: null,
  };
}
