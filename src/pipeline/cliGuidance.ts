// The CLI's guidance request (tools/sample.ts flags, already parsed and range-checked there) against a
// pack: the mode a run uses when --mode is not given, and the scales it then applies. The page picks
// its mode explicitly (planRun); the CLI infers it from which scales were given.
import { GUIDANCE_MODES, canUseCfg, modeUses, type GuidanceMode, type PackManifest } from '../shared/manifest';
import { recommendedScales } from '../shared/scales';
import type { ModeUses } from './guidance';

export interface CliGuidanceRequest {
  /** --mode as typed (undefined: inferred). */
  mode?: string;
  /** --scale and --cfg-scale, inside LIMITS (undefined: not given). */
  scale?: number;
  cfgScale?: number;
  unconditional: boolean;
  /** The pack's classifier gradient graph is there. */
  hasClassifier: boolean;
}

export interface CliGuidance {
  mode: GuidanceMode;
  uses: ModeUses;
  /** The scales the run applies (0 for a kind its mode does not use). */
  scale: number;
  cfgScale: number;
}

/**
 * Mode: --mode, else cfg when only --cfg-scale is given, both when --scale and --cfg-scale are,
 * classifier when only --scale or --unconditional is, else the pack's sampling.guidanceMode
 * (classifier when it has none). A scale not given is the pack's recommendation.
 */
export function resolveCliGuidance(m: PackManifest, r: CliGuidanceRequest): CliGuidance {
  if (r.mode !== undefined && !GUIDANCE_MODES.includes(r.mode as GuidanceMode)) {
    throw new Error(`--mode must be one of ${GUIDANCE_MODES.join(', ')} (got "${r.mode}")`);
  }
  const mode: GuidanceMode = (r.mode as GuidanceMode | undefined)
    ?? (r.cfgScale !== undefined ? (r.scale !== undefined ? 'both' : 'cfg')
      : r.scale !== undefined || r.unconditional ? 'classifier'
      : m.sampling.guidanceMode ?? 'classifier');
  const uses = modeUses(mode);
  if (!uses.classifier && r.scale !== undefined) {
    throw new Error(`--scale (the classifier scale) has no effect with --mode ${mode}: use --mode both to combine the two`);
  }
  if (!uses.cfg && r.cfgScale !== undefined) throw new Error('--cfg-scale has no effect with --mode classifier: use --mode cfg or both');
  if (uses.cfg && !canUseCfg(m)) {
    throw new Error(`pack ${m.name} has no unconditionalLabel, so it cannot use classifier-free guidance (--mode ${mode})`);
  }
  if (uses.cfg && r.unconditional) {
    throw new Error(`--unconditional contradicts --mode ${mode}: classifier-free guidance conditions one U-Net branch on the class`);
  }
  if (r.scale !== undefined && r.scale !== 0 && !r.hasClassifier) {
    throw new Error(`pack ${m.name} has no classifier gradient graph, so it cannot be guided (use --scale 0)`);
  }
  if (r.unconditional && m.classCond && m.unconditionalLabel === null) {
    throw new Error(`pack ${m.name} is class-conditional and has no unconditionalLabel: it cannot sample unconditionally`);
  }
  const recommended = recommendedScales(m);
  return {
    mode,
    uses,
    scale: uses.classifier ? (r.scale ?? (r.hasClassifier ? recommended.classifierScale : 0)) : 0,
    cfgScale: uses.cfg ? (r.cfgScale ?? recommended.cfgScale) : 0,
  };
}
