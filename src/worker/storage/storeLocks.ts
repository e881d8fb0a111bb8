// Locks that coordinate the pack store between tabs of this app: the Web Locks API (navigator.locks,
// one lock manager per origin, shared by every page and worker, locks released when a tab goes away).
//
//   <STORE_DIR>:file:<sha256>  exclusive, held while a tab has that model file open (download or read):
//                              another tab waits for it, then reads the completed copy
//   <STORE_DIR>:pack:<key>     shared, held by every load of that pack from start to end: a delete
//                              takes it exclusively if it can, and is refused while a load holds it
//
// Where navigator.locks is missing, `localLocks()` gives the same semantics within one worker (and lets
// unit tests play two tabs on one lock manager).

export type LockMode = 'exclusive' | 'shared';

export interface LockOptions {
  mode?: LockMode;
  ifAvailable?: boolean;
  signal?: AbortSignal;
}

/** The part of LockManager the store uses. The callback's promise holds the lock until it settles. */
export interface LocksLike {
  request(name: string, options: LockOptions, callback: (lock: unknown) => Promise<void> | void): Promise<unknown>;
}

/** Releases a held lock (once; later calls do nothing). */
export type Release = () => void;

/**
 * Takes `name` and keeps it until the returned Release is called. With `ifAvailable`, resolves null at
 * once when another holder has it; otherwise waits (aborting `signal` stops the wait with its reason).
 */
export function acquire(locks: LocksLike, name: string, options: LockOptions = {}): Promise<Release | null> {
  return new Promise<Release | null>((resolve, reject) => {
    locks
      .request(name, options, (lock) => {
        if (lock === null) {
          resolve(null);
          return;
        }
        return new Promise<void>((release) => resolve(release));
      })
      .catch(reject);
  });
}

/** navigator.locks when the browser has it, else a lock manager for this worker alone. */
export function defaultLocks(): LocksLike {
  const nav = (globalThis as { navigator?: { locks?: LocksLike } }).navigator;
  return nav?.locks ?? localLocks();
}

interface Waiter {
  mode: LockMode;
  grant: () => void;
}

/** An in-memory LockManager (FIFO; shared holders together; exclusive alone). */
export function localLocks(): LocksLike {
  const held = new Map<string, { mode: LockMode; count: number }>();
  const queues = new Map<string, Waiter[]>();
  const free = (name: string, mode: LockMode) => {
    const h = held.get(name);
    return !h || (mode === 'shared' && h.mode === 'shared' && !(queues.get(name)?.length));
  };
  const take = (name: string, mode: LockMode) => {
    const h = held.get(name);
    held.set(name, { mode, count: (h?.count ?? 0) + 1 });
  };
  const drop = (name: string) => {
    const h = held.get(name)!;
    if (--h.count === 0) held.delete(name);
    const q = queues.get(name) ?? [];
    while (q.length && (!held.has(name) || (q[0].mode === 'shared' && held.get(name)!.mode === 'shared'))) {
      const w = q.shift()!;
      take(name, w.mode);
      w.grant();
    }
  };
  return {
    async request(name, options, callback) {
      const mode = options.mode ?? 'exclusive';
      if (!free(name, mode)) {
        if (options.ifAvailable) return callback(null);
        options.signal?.throwIfAborted();
        await new Promise<void>((grant, reject) => {
          const w: Waiter = { mode, grant };
          const q = queues.get(name) ?? [];
          queues.set(name, [...q, w]);
          options.signal?.addEventListener('abort', () => {
            const left = queues.get(name) ?? [];
            if (!left.includes(w)) return;
            queues.set(name, left.filter((x) => x !== w));
            reject(options.signal!.reason);
          }, { once: true });
        });
      } else take(name, mode);
      try {
        return await callback({ name, mode });
      } finally {
        drop(name);
      }
    },
  };
}
