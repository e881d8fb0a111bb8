// The sample CLI's flag values that are more than a number: the class list (one index, a comma list or
// "random"), --batch-range and --guidance-interval. Each refuses bad input with a CliError.
import { labelOfImagenetIndex, type PackManifest } from '../../src/shared/manifest';
import { CliError, integer } from './cli';

/** ImageNet classes requested: one index, a comma list (cycled over samples) or "random" (seeded). */
export function resolveClasses(spec: string, m: PackManifest, count: number, seed: number): number[] {
  if (spec.trim() === 'random') {
    // Integer hash of (seed, k): independent of the image noise streams, same on every machine.
    const pick = (k: number) => {
      let h = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
      h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
      return ((h ^ (h >>> 15)) >>> 0) % m.labels.length;
    };
    return Array.from({ length: count }, (_, k) => m.labels[pick(k)]);
  }
  const list = spec.split(',').map((s) => integer(s, 'class', 0));
  for (const c of list) {
    if (labelOfImagenetIndex(m, c) < 0) {
      const known = m.labels.slice(0, 20).join(',') + (m.labels.length > 20 ? ',...' : '');
      throw new CliError(`class ${c} is not in pack ${m.name} (its ImageNet classes: ${known})`);
    }
  }
  return Array.from({ length: count }, (_, k) => list[k % list.length]);
}

/** "FROM,TO": batch indices with 0 <= FROM < TO <= numBatches. */
export function parseBatchRange(raw: string, numBatches: number): [number, number] {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  const from = m ? Number(m[1]) : NaN;
  const to = m ? Number(m[2]) : NaN;
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from < to && to <= numBatches)) {
    throw new CliError(`--batch-range must be FROM,TO with 0 <= FROM < TO <= ${numBatches} (the run's batches; got "${raw}")`);
  }
  return [from, to];
}

/** "LO,HI": whole original timesteps with 0 <= LO <= HI. */
export function parseInterval(raw: string): [number, number] {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo <= hi)) {
    throw new CliError(`--guidance-interval must be two whole timesteps LO,HI with 0 <= LO <= HI (got "${raw}")`);
  }
  return [lo, hi];
}
