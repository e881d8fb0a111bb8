// Checks the sample CLI runs before any work: sizes that fit the machine, and output locations
// that can really be written. Each failure is a CliError (one line, exit 2) instead of a run that
// grows without bound or fails only after all the sampling.
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from './cli';

export const SAMPLE_LIMITS = {
  maxBatch: 64,
  maxNumSamples: 10_000,
  /** batch × H × W: the U-Net's activations grow with it (64 images at 64×64, 4 at 256×256). */
  maxBatchPixels: 64 * 64 * 64,
  /** What a run keeps until the end: every sample as float32 (twice) and the grid as RGBA. */
  maxKeptBytes: 2 * 1024 ** 3,
} as const;

/** Bytes a run of `numSamples` images of size×size keeps in memory until it writes them. */
export function keptBytes(numSamples: number, size: number): number {
  return numSamples * (2 * 3 * size * size * 4 + (size + 2) * (size + 2) * 4);
}

const gb = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GB`;

/** Refuses a batch or sample count this pack's image size makes too big for memory. */
export function checkSampleMemory(batch: number, numSamples: number, size: number): void {
  const L = SAMPLE_LIMITS;
  const maxBatch = Math.max(1, Math.floor(L.maxBatchPixels / (size * size)));
  if (batch > maxBatch) {
    throw new CliError(`--batch ${batch} is too large for ${size}x${size} images: at most ${maxBatch} per batch (batch × height × width <= ${L.maxBatchPixels})`);
  }
  const bytes = keptBytes(numSamples, size);
  if (bytes > L.maxKeptBytes) {
    const most = Math.floor(L.maxKeptBytes / keptBytes(1, size));
    throw new CliError(
      `--num-samples ${numSamples} at ${size}x${size} would keep about ${gb(bytes)} in memory (limit ${gb(L.maxKeptBytes)}): at most ${most}; run several times with other seeds instead`,
    );
  }
}

/** Writes and removes a probe file in `dir`, so a read-only or full location fails now. */
function probe(dir: string, what: string): void {
  const path = resolve(dir, `.write-probe-${process.pid}`);
  try {
    writeFileSync(path, 'probe');
  } catch (e) {
    throw new CliError(`${what}: cannot write in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    rmSync(path, { force: true });
  }
}

/** --out FILE.png: its folder exists and takes a new file, and FILE itself is not a folder. */
export function checkOutFile(out: string, what = '--out'): void {
  const path = resolve(out);
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`${what}: folder ${dir} does not exist`);
  if (existsSync(path) && !statSync(path).isFile()) throw new CliError(`${what}: ${out} exists and is not a file`);
  probe(dir, what);
}

/** --save-samples DIR: an existing folder that takes files, or a new one under a writable folder. */
export function checkOutDir(dir: string, what = '--save-samples'): void {
  let at = resolve(dir);
  if (existsSync(at) && !statSync(at).isDirectory()) throw new CliError(`${what}: ${dir} exists and is not a folder`);
  while (!existsSync(at)) {
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (!statSync(at).isDirectory()) throw new CliError(`${what}: ${at} is not a folder, so ${dir} cannot be created`);
  probe(at, what);
}
