// The one rule for guidance scales, shared by the run plan (at Generate) and the live slider path
// (setScale mid-run): finite and inside LIMITS. Out-of-range values are refused, never clamped, so
// a run never uses a scale other than the one it reports.
import { LIMITS } from './protocol';

export type ScaleKind = 'classifierScale' | 'cfgScale';

const NAMES: Record<ScaleKind, string> = { classifierScale: 'guidance scale', cfgScale: 'classifier-free guidance scale' };

/** Null when `v` is a usable `kind` scale; otherwise the reason, as one sentence fragment. */
export function scaleProblem(kind: ScaleKind, v: number): string | null {
  const r = LIMITS[kind];
  if (typeof v === 'number' && Number.isFinite(v) && v >= r.min && v <= r.max) return null;
  return `${NAMES[kind]} ${String(v)} is outside ${r.min}..${r.max}`;
}
