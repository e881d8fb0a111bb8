// The one rule for guidance scales (and the range check behind it, for any LIMITS entry), applied where
// scales enter a run (src/pipeline at Generate and for CLI flags, the worker's setScale mid-run): finite
// and inside LIMITS. Requested values are refused, never clamped, so a run never uses a scale other than
// the one it reports; only a pack's recommendation is clamped into the limits.
import type { PackManifest } from './manifest';
import { DEFAULTS, LIMITS } from './protocol';

export type ScaleKind = 'classifierScale' | 'cfgScale';

const NAMES: Record<ScaleKind, string> = { classifierScale: 'guidance scale', cfgScale: 'classifier-free guidance scale' };

/** Whether `v` is a finite number inside a LIMITS range (and whole, when `integer`). */
export function inRange(v: number, r: { min: number; max: number }, integer: boolean): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= r.min && v <= r.max && (!integer || Number.isInteger(v));
}

/** Null when `v` is a usable `kind` scale; otherwise the reason, as one sentence fragment. */
export function scaleProblem(kind: ScaleKind, v: number): string | null {
  const r = LIMITS[kind];
  if (inRange(v, r, false)) return null;
  return `${NAMES[kind]} ${String(v)} is outside ${r.min}..${r.max}`;
}

/** `v` moved into a LIMITS range (for a pack's recommendation, which the manifest does not bound as the app does). */
function clampTo(v: number, r: { min: number; max: number }): number {
  return Math.min(r.max, Math.max(r.min, v));
}

/**
 * A pack's recommended scales (manifest sampling.classifierScale and cfgScale, the app's w when it has
 * none), clamped into the app's limits: what the page's sliders and the CLI start from.
 */
export function recommendedScales(m: Pick<PackManifest, 'sampling'>): Record<ScaleKind, number> {
  return {
    classifierScale: clampTo(m.sampling.classifierScale, LIMITS.classifierScale),
    cfgScale: clampTo(m.sampling.cfgScale ?? DEFAULTS.cfgScale, LIMITS.cfgScale),
  };
}
