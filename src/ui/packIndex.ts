// models/index.json: the packs this deployment offers. Validated like the manifests are.
import type { PackEntry } from './store/modelSlice';

export interface PackIndex {
  packs: PackEntry[];
  defaultPackId: string;
}

/** Parses index.json; pack paths are resolved against `indexUrl`'s site root (the page base). */
export function parsePackIndex(json: unknown, baseUrl: string): PackIndex {
  const o = json as { packs?: unknown; default?: unknown } | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.packs) || o.packs.length === 0) {
    throw new Error('models/index.json must have a non-empty "packs" list');
  }
  const packs = o.packs.map((p: unknown, i): PackEntry => {
    const e = p as { id?: unknown; title?: unknown; path?: unknown } | null;
    if (!e || typeof e.id !== 'string' || !/^[\w-]+$/.test(e.id) || typeof e.path !== 'string') {
      throw new Error(`models/index.json: packs[${i}] needs an "id" (letters, digits, - and _) and a "path"`);
    }
    const path = e.path.endsWith('/') ? e.path : `${e.path}/`;
    return { id: e.id, title: typeof e.title === 'string' ? e.title : e.id, url: new URL(path, baseUrl).href };
  });
  const def = typeof o.default === 'string' && packs.some((p) => p.id === o.default) ? o.default : packs[0].id;
  return { packs, defaultPackId: def };
}
