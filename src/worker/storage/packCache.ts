// Model files of a pack where OPFS is missing (loadGraphBytes): the Cache API first, the network
// otherwise, and a sha256 check before the bytes are handed out, so a wrong file never runs. With
// OPFS the pack store keeps them instead (graphFromStore.ts).
import { downloadBytes, DownloadError, errorText } from './download';
import type { FileSpec } from './storedFile';
import { packFileUrl } from './packUrl';
import { sha256Hex } from './sha256';

/** The part of the Cache API used here (injectable for tests). */
export interface CacheLike {
  match(key: string): Promise<Response | undefined>;
  put(key: string, res: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
  keys(): Promise<ReadonlyArray<{ url: string }>>;
}

export interface FileSource {
  fetchFn: typeof fetch;
  cache: CacheLike | null;
}

export type FileProgressFn = (loaded: number, total: number, fromCache: boolean) => void;

export const CACHE_NAME = 'guided-diffusion-packs-v1';

export async function openPackCache(): Promise<CacheLike | null> {
  try {
    return typeof caches === 'undefined' ? null : await caches.open(CACHE_NAME);
  } catch {
    return null; // e.g. storage disabled: still works, just without caching
  }
}

/** The sha256 is part of the key, so a re-exported pack never reuses stale bytes. */
export function cacheKey(fileUrl: string, sha256: string): string {
  const u = new URL(fileUrl);
  u.searchParams.set('sha256', sha256);
  return u.href;
}

/**
 * The bytes of one graph of the pack at `packUrl` (only ever fetched from inside that folder).
 * Aborting `signal` stops the download at once and rejects with the signal's reason.
 */
export async function loadGraphBytes(
  src: FileSource,
  packUrl: string,
  g: FileSpec,
  onProgress: FileProgressFn,
  signal?: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const url = packFileUrl(packUrl, g.file);
  const key = cacheKey(url, g.sha256);
  const cached = await readCache(src.cache, key, g);
  signal?.throwIfAborted();
  if (cached) {
    onProgress(g.bytes, g.bytes, true);
    return cached;
  }
  const bytes = await downloadBytes(src.fetchFn, url, g.file, g.bytes, (loaded, total) => onProgress(loaded, total, false), signal);
  const got = await sha256Hex(bytes);
  signal?.throwIfAborted();
  if (got !== g.sha256) {
    throw new DownloadError(
      `${g.file}: sha256 mismatch (manifest ${g.sha256.slice(0, 12)}…, file ${got.slice(0, 12)}…): the file is corrupt or from another export`,
    );
  }
  await writeCache(src.cache, url, key, bytes);
  return bytes;
}

async function readCache(cache: CacheLike | null, key: string, g: FileSpec): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!cache) return null;
  try {
    const res = await cache.match(key);
    if (!res) return null;
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length === g.bytes && (await sha256Hex(bytes)) === g.sha256) return bytes;
    await cache.delete(key); // corrupt entry: fetch again
  } catch {
    // unreadable cache: fall through to the network
  }
  return null;
}

async function writeCache(cache: CacheLike | null, url: string, key: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  if (!cache) return;
  try {
    // Drop entries of the same file with another sha256 (an older export).
    for (const req of await cache.keys()) {
      const u = new URL(req.url);
      u.search = '';
      if (u.href === url && req.url !== key) await cache.delete(req.url);
    }
    await cache.put(key, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
  } catch (e) {
    console.warn(`could not cache ${url}: ${errorText(e)}`); // quota: the app still works
  }
}
