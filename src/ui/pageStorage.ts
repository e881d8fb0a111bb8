// The page's side of pack storage: StorageManager.estimate() for the worker's quota check and the
// Cached packs panel, and persist() (which exists only on the page, not in workers), asked once,
// when a pack is about to be stored: browsers may evict non-persistent storage under pressure.
import type { StorageEstimateInfo } from '../shared/protocol';

export interface PageStorage {
  /** Usage and quota; with `askPersist`, first asks for persistent storage (once per page). */
  measure(askPersist: boolean): Promise<StorageEstimateInfo | null>;
}

export function browserStorage(): PageStorage {
  let persistAnswer: Promise<boolean | null> | null = null;
  return {
    async measure(askPersist) {
      const sm = typeof navigator === 'undefined' ? undefined : navigator.storage;
      if (!sm || typeof sm.estimate !== 'function') return null;
      let persisted: boolean | null;
      try {
        persisted = typeof sm.persisted === 'function' ? await sm.persisted() : null;
        if (!persisted && askPersist && typeof sm.persist === 'function') {
          persistAnswer ??= sm.persist().catch(() => null);
          persisted = await persistAnswer;
        }
      } catch {
        persisted = null;
      }
      try {
        const e = await sm.estimate();
        return { usage: e.usage ?? null, quota: e.quota ?? null, persisted };
      } catch {
        return { usage: null, quota: null, persisted };
      }
    },
  };
}
