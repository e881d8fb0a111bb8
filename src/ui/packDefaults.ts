// When a pack becomes ready: adopt its recommended sampling settings (unless the user or URL set
// them) and make sure the chosen class and conditioning are possible with this pack.
import { spaceTimesteps } from '../diffusion/respace';
import { canUseCfg, type PackManifest } from '../shared/manifest';
import { GRID_DEFAULTS, LIMITS } from '../shared/protocol';
import { recommendedScales } from '../shared/scales';
import { shortName } from './data/classes';
import type { Params } from './store/paramsSlice';
import type { AppStore } from './store/store';

/** How many sampling steps a respacing string keeps ("ddim25" -> 25, "10,10,10" -> 30); null when it is refused. */
export function stepsOfRespacing(spec: string, diffusionSteps: number): number | null {
  try {
    return spaceTimesteps(diffusionSteps, spec).length;
  } catch {
    return null;
  }
}

/**
 * The trade-off view's default scales: 0, s/2, s and 2s of the pack's recommended scale of the kind its
 * guidance mode varies (the CFG scale w in cfg mode, else the classifier scale s), within the limits.
 */
export function tradeoffScalesFor(m: PackManifest): number[] {
  const cfgMode = canUseCfg(m) && m.sampling.guidanceMode === 'cfg';
  const r = cfgMode ? LIMITS.cfgScale : LIMITS.classifierScale;
  const s = recommendedScales(m)[cfgMode ? 'cfgScale' : 'classifierScale'];
  const values = s > 0 ? [0, s / 2, s, Math.min(r.max, 2 * s)] : [...GRID_DEFAULTS.tradeoffScales];
  return [...new Set(values.map((v) => Math.round(v * 100) / 100))];
}

export function adoptPack(store: AppStore, m: PackManifest): void {
  const { params, explicit, applyDefaults, addNotice } = store.getState();
  const defaults: Partial<Params> = {};
  const recommended = recommendedScales(m);
  if (!explicit.classifierScale) defaults.classifierScale = recommended.classifierScale;
  const cfgOk = canUseCfg(m);
  if (!explicit.guidanceMode) {
    defaults.guidanceMode = cfgOk ? (m.sampling.guidanceMode ?? 'classifier') : 'classifier';
  } else if (!cfgOk && params.guidanceMode !== 'classifier') {
    addNotice('warning', `Pack "${m.title}" cannot use classifier-free guidance (its U-Net has no unconditional label); using classifier guidance.`);
    defaults.guidanceMode = 'classifier';
  }
  if (!explicit.cfgScale) defaults.cfgScale = recommended.cfgScale;
  if (!explicit.tradeoffScales) defaults.tradeoffScales = tradeoffScalesFor(m);
  const steps = stepsOfRespacing(m.sampling.timestepRespacing, m.diffusion.diffusionSteps);
  if (!explicit.steps && steps !== null) defaults.steps = steps;
  if (!explicit.sampler) defaults.sampler = m.sampling.useDdim ? 'ddim' : 'ddpm';
  if (!m.labels.includes(params.imagenetClass)) {
    const fallback = m.labels[0];
    if (explicit.imagenetClass) {
      addNotice(
        'warning',
        `Pack "${m.title}" does not know class ${params.imagenetClass} (${shortName(params.imagenetClass)}); using ${shortName(fallback)} instead.`,
      );
    }
    defaults.imagenetClass = fallback;
  }
  if (!params.conditionUnet && m.classCond && m.unconditionalLabel === null) {
    addNotice('warning', `Pack "${m.title}" cannot sample unconditionally; the U-Net is conditioned on the class.`);
    defaults.conditionUnet = true;
  }
  if ((defaults.steps ?? params.steps) > m.diffusion.diffusionSteps) {
    if (explicit.steps) {
      addNotice('warning', `Pack "${m.title}" has ${m.diffusion.diffusionSteps} diffusion steps; using ${m.diffusion.diffusionSteps} sampling steps instead of ${params.steps}.`);
    }
    defaults.steps = m.diffusion.diffusionSteps;
  }
  applyDefaults(defaults);
}
