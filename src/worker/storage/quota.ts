// Whether a pack's downloads fit in the storage the browser grants this site, checked before any
// byte of a model file is fetched (the numbers come from the page's StorageManager.estimate()).
import { formatBytes } from '../../shared/bytes';
import type { StorageEstimateInfo } from '../../shared/protocol';

/** Room kept for the small sidecar and record files next to the model files. */
export const STORE_OVERHEAD_BYTES = 1 << 20;

/** A sentence explaining why `neededBytes` more will not fit, or null (fits, or unknown). */
export function quotaProblem(neededBytes: number, est: StorageEstimateInfo | null): string | null {
  if (neededBytes <= 0 || !est || est.quota === null || est.usage === null) return null;
  const available = Math.max(0, est.quota - est.usage);
  if (neededBytes + STORE_OVERHEAD_BYTES <= available) return null;
  return (
    `Not enough storage space for this pack: its model files need ${formatBytes(neededBytes)} more, ` +
    `but the browser lets this site store only ${formatBytes(available)} more ` +
    `(quota ${formatBytes(est.quota)}, ${formatBytes(est.usage)} in use). ` +
    'Delete cached packs or free disk space, then load the pack again'
  );
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
