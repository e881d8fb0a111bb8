// Download speed over a sliding window, for the progress line's speed and time left.

export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];
  private readonly windowMs: number;

  constructor(windowMs = 3000) {
    this.windowMs = windowMs;
  }

  /** `bytes`: network bytes received so far (monotone), at time `t` (ms). */
  add(t: number, bytes: number): void {
    this.samples.push({ t, bytes });
    // Keep one sample at or before the window's start, so the window is always fully covered.
    while (this.samples.length > 2 && this.samples[1].t <= t - this.windowMs) this.samples.shift();
  }

  /** Bytes per second, or null until there is half a second of data. */
  bytesPerSec(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t - first.t < 500) return null;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }

  /** Seconds to fetch `remainingBytes` at the current speed, or null while unknown. */
  etaSec(remainingBytes: number): number | null {
    const bps = this.bytesPerSec();
    if (bps === null) return null;
    if (remainingBytes <= 0) return 0;
    return bps > 0 ? remainingBytes / bps : null;
  }
}
