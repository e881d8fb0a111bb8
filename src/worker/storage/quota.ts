// Whether downloads fit in the storage the browser grants this site, checked before any byte is
// fetched: a pack's model files (with the page's StorageManager.estimate()) and checkpoints given by
// URL (import/importJob.ts, with the worker's own estimate), by one rule in their own words.
import { formatBytes } from '../../shared/bytes';
import type { StorageEstimateInfo } from '../../shared/protocol';

/**
 * This context's own StorageManager.estimate() (a worker's; without persist(), which only the page
 * has), null where the browser gives none.
 */
export async function estimateHere(): Promise<StorageEstimateInfo | null> {
  const est = await navigator.storage?.estimate?.().catch(() => null);
  return est ? { quota: est.quota ?? null, usage: est.usage ?? null, persisted: null } : null;
}

/** Room kept for the small sidecar and record files next to the model files. */
export const STORE_OVERHEAD_BYTES = 1 << 20;

/** The numbers of a refusal, in bytes: what is needed, and what the browser still allows. */
export interface RoomShortfall {
  need: number;
  available: number;
  quota: number;
  usage: number;
}

/** Words a refusal for the reader (the pack load's wording by default; a checkpoint import has its own). */
export type RoomMessage = (x: RoomShortfall) => string;

const packRoomMessage: RoomMessage = ({ need, available, quota, usage }) =>
  `Not enough storage space for this pack: its model files need ${formatBytes(need)} more, ` +
  `but the browser lets this site store only ${formatBytes(available)} more ` +
  `(quota ${formatBytes(quota)}, ${formatBytes(usage)} in use). ` +
  'Delete cached packs or free disk space, then load the pack again';

/**
 * A sentence explaining why `neededBytes` more will not fit, or null (fits, or unknown). The one rule
 * for room, of pack loads and checkpoint imports alike; `message` words it.
 */
export function quotaProblem(neededBytes: number, est: StorageEstimateInfo | null, message: RoomMessage = packRoomMessage): string | null {
  if (neededBytes <= 0 || !est || est.quota === null || est.usage === null) return null;
  const available = Math.max(0, est.quota - est.usage);
  if (neededBytes + STORE_OVERHEAD_BYTES <= available) return null;
  return message({ need: neededBytes, available, quota: est.quota, usage: est.usage });
}

/**
 * Bytes of `graphs` still to download given what `store` holds; when that is more than zero, asks
 * `estimate` and throws (with the numbers) when it would not fit. Nothing is fetched here.
 */
export async function checkRoom(
  store: { storedBytes(g: { sha256: string; bytes: number }): Promise<number> },
  graphs: readonly { file: string; sha256: string; bytes: number }[],
  estimate: () => Promise<StorageEstimateInfo | null>,
): Promise<number> {
  const stored = await Promise.all(graphs.map((g) => store.storedBytes(g)));
  const toFetch = graphs.reduce((s, g, i) => s + g.bytes - stored[i], 0);
  if (toFetch > 0) {
    const problem = quotaProblem(toFetch, await estimate());
    if (problem) throw new QuotaError(problem);
  }
  return toFetch;
}

export class QuotaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuotaError';
  }
}
