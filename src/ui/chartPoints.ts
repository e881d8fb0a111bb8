// SVG polyline points for a per-step series (null steps are skipped), shared by the step charts.

export interface SeriesScale {
  lo: number;
  hi: number;
  points: string;
}

/** Points of `values` over `numSteps` slots in a W×H box with padding; lo/hi of the finite values. */
export function seriesPoints(values: readonly (number | null)[], numSteps: number, w: number, h: number, pad: number): SeriesScale | null {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (finite.length === 0) return null;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite, lo + 1e-6);
  const n = Math.max(numSteps, values.length, 2);
  const points = values
    .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${pad + (i / (n - 1)) * (w - 2 * pad)},${pad + ((hi - v) / (hi - lo)) * (h - 2 * pad)}`))
    .filter((p): p is string => p !== null)
    .join(' ');
  return { lo, hi, points };
}
