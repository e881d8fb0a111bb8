// Byte counts as people read them (decimal units, like download dialogs and disk tools).

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  const a = Math.abs(n);
  if (a < 1e3) return `${Math.round(n)} B`;
  if (a < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (a < 1e9) return `${(n / 1e6).toFixed(a < 1e7 ? 2 : a < 1e8 ? 1 : 0)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
