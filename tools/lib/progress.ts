// Progress on stderr: a redrawn bar when stderr is a terminal, else a plain line every ~10%.

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}

export class Progress {
  private readonly start = performance.now();
  private lastDecile = -1;
  private readonly tty: boolean;
  private readonly total: number;
  private readonly label: string;

  constructor(total: number, label: string) {
    this.total = total;
    this.label = label;
    this.tty = Boolean(process.stderr.isTTY);
  }

  /** `done` steps of `total` finished; `detail` is appended (e.g. the batch). */
  update(done: number, detail = ''): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const frac = done / this.total;
    if (this.tty) {
      const width = 30;
      const full = Math.round(frac * width);
      const bar = '#'.repeat(full) + '.'.repeat(width - full);
      process.stderr.write(`\r${this.label} [${bar}] step ${done}/${this.total} ${detail ? `${detail} ` : ""}ETA ${fmtSeconds(eta)}   `);
      if (done === this.total) process.stderr.write('\n');
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      process.stderr.write(`${this.label}: ${Math.round(frac * 100)}% (step ${done}/${this.total}${detail ? `, ${detail}` : ''}) ETA ${fmtSeconds(eta)}\n`);
    }
  }
}
