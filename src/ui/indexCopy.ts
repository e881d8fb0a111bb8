// models/index.json for offline visits: each fetched copy is kept in the Cache API (a small file),
// and used only when the request cannot be made at all (no network). A server that answers is
// believed, as for pack manifests.

export const INDEX_CACHE = 'guided-diffusion-index-v1';

export interface IndexSource {
  fetchFn: typeof fetch;
  /** null: no Cache API (then offline visits cannot list packs). */
  openCache: () => Promise<Pick<Cache, 'match' | 'put'> | null>;
}

export const browserIndexSource = (): IndexSource => ({
  fetchFn: (...a) => fetch(...a),
  openCache: async () => {
    try {
      return typeof caches === 'undefined' ? null : await caches.open(INDEX_CACHE);
    } catch {
      return null;
    }
  },
});

/** The index JSON, from the network or (offline) the last copy; `remember` keeps a validated copy. */
export async function fetchIndexJson(url: string, src: IndexSource): Promise<{ json: unknown; offline: boolean; remember: () => Promise<void> }> {
  let res: Response;
  try {
    res = await src.fetchFn(url, { cache: 'no-cache' });
  } catch (e) {
    const cache = await src.openCache();
    const copy = await cache?.match(url).catch(() => undefined);
    if (!copy) throw e;
    return { json: await copy.json(), offline: true, remember: async () => {} };
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const json: unknown = await res.json();
  return {
    json,
    offline: false,
    remember: async () => {
      try {
        await (await src.openCache())?.put(url, Response.json(json));
      } catch {
        // no room or no Cache API: only offline visits lose
      }
    },
  };
}
