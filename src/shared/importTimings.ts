// One line for a checkpoint import's profile (the worker's console and the page's import panel).
import { formatBytes } from './bytes';
import type { ImportTimings } from './protocol';

export function describeImport(t: ImportTimings): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return `built in ${s(t.totalMs)}: index ${s(t.indexMs)} · read ${s(t.readMs)} · fill ${s(t.fillMs)} · hash ${s(t.hashMs)} · store ${s(t.storeMs)}`
    + ` (${formatBytes(t.weightBytes)} of weights, largest buffer ${formatBytes(t.largestBuffer)})`;
}
