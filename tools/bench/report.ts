// What every bench part shares for its report: progress lines on stderr, rounding, summary statistics,
// and one-line error texts (a failed part is recorded as { error } and the run goes on).

export const log = (msg: string): void => {
  process.stderr.write(`bench: ${msg}\n`);
};

export const round = (v: number): number => Math.round(v * 100) / 100;

export function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Stats { mean: number; median: number; min: number; max: number; n: number }

export function stats(ms: readonly number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  return { mean: round(s.reduce((a, b) => a + b, 0) / s.length), median: round(median(s)), min: round(s[0]), max: round(s[s.length - 1]), n: s.length };
}

export const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];
