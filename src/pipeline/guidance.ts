// Guidance modes against a pack: which networks a mode uses, whether the pack allows it, and which
// scales a run then applies. Mode names and modeUses/canUseCfg stay with the manifest (it validates a
// pack's sampling.guidanceMode with them); this is where a run's request meets them.
import { GUIDANCE_MODES, canUseCfg, modeUses, type GuidanceMode, type PackManifest } from '../shared/manifest';
import { scaleProblem, type ScaleKind } from '../shared/scales';

export type ModeUses = ReturnType<typeof modeUses>;

/** `mode` as a guidance mode (absent: classifier guidance, the paper's); `at` prefixes the error ("grid cell 2: "). */
export function checkedMode(mode: unknown, at = ''): GuidanceMode {
  const m = mode ?? 'classifier';
  if (!GUIDANCE_MODES.includes(m as GuidanceMode)) throw new Error(`${at}guidance mode "${String(m)}" is not one of ${GUIDANCE_MODES.join(', ')}`);
  return m as GuidanceMode;
}

/** Refuses a mode with classifier-free guidance for a pack whose U-Net has no null label. */
export function checkModeForPack(m: PackManifest, mode: GuidanceMode, at = ''): ModeUses {
  const uses = modeUses(mode);
  if (uses.cfg && !canUseCfg(m)) throw new Error(`${at}pack "${m.name}" cannot use classifier-free guidance (its U-Net has no unconditional label)`);
  return uses;
}

/**
 * The scales a sample is guided with: a kind its mode does not use is 0, and so is the classifier
 * scale of a pack without a classifier (the loop then never calls one).
 */
export function appliedScales(m: Pick<PackManifest, 'classifierGrad'>, uses: ModeUses, classifier: number, cfg: number): { classifier: number; cfg: number } {
  return { classifier: uses.classifier && m.classifierGrad ? classifier : 0, cfg: uses.cfg ? cfg : 0 };
}

/**
 * Throws the reason when `v` is not a usable scale of `kind` (shared/scales.ts holds the rule): called
 * where scales enter a run (the request, a grid cell), so the loop downstream trusts them.
 */
export function checkScale(kind: ScaleKind, v: number, at = ''): void {
  const bad = scaleProblem(kind, v);
  if (bad) throw new Error(`${at}${bad}`);
}
