// The one rule for guidance scales (and the range check behind it, for any LIMITS entry), shared by
// the run plan (at Generate) and the live slider path (setScale mid-run): finite and inside LIMITS. Out-of-range values are refused, never clamped, so
// a run never uses a scale other than the one it reports.
import { LIMITS } from './protocol';

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
