// One line for a checkpoint import's profile (the worker's console and the page's import panel).
import { formatBytes } from './bytes';
import type { ImportTimings } from './protocol';

export function describeImport(t: ImportTimings): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  // hash is the hashing's own time; where a hashing thread overlaps it with the fill, the import waited only `waited` for it
  const download = t.downloadMs > 0 ? `download ${s(t.downloadMs)} · ` : '';
  return `built in ${s(t.totalMs)}: ${download}index ${s(t.indexMs)} · read ${s(t.readMs)} · fill ${s(t.fillMs)}`
    + ` · hash ${s(t.hashMs)} (waited ${s(t.hashWaitMs)}) · store ${s(t.storeMs)}`
    + ` (${formatBytes(t.weightBytes)} of weights, largest buffer ${formatBytes(t.largestBuffer)})`;
}
