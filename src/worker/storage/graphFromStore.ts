// Model files of a pack via the OPFS pack store (startGraphFromStore): stored copy first, else a
// download that streams into storage while a hashing thread hashes it, resuming an interrupted one
// with a Range request; the digest may still be on its way when the bytes are handed out, and the
// caller awaits it before anything runs on them, so a wrong file never runs. Without OPFS the Cache
// API keeps them instead (packCache.ts).
import { abortable, downloadInto, DownloadError, type RangeSink } from './download';
import { allocBytes } from './fileBuffer';
import { browserHashPool, isShared, type FileHasher, type HashPool } from './hasher';
import type { PackStore } from './packStore';
import type { FileSpec, PhaseClock } from './storedFile';
import { packFileUrl } from './packUrl';

/** Pauses before each automatic resume of a dropped download (then the load fails; a later load resumes). */
export const RESUME_DELAYS_MS = [500, 2000, 5000] as const;

/** Progress of one file from the store: `fromStore` while stored bytes are read. */
export type StoreProgressFn = (loaded: number, total: number, fromStore: boolean, resumedAt: number) => void;

/**
 * The load profile's clock: storage phases, time waiting for the network, time waiting for the
 * hash ('hash': what hashing added to the load) and the hashing thread's own time ('hashThread').
 */
export type LoadClock = (phase: 'fetch' | 'hash' | 'hashThread' | 'store' | 'read', ms: number) => void;

/** Downloaded bytes are written to storage in pieces of at least this size (few, large writes). */
const WRITE_BYTES = 8 << 20;
/** The stored part of a resumed file goes to the hasher in pieces of this size. */
const REHASH_BYTES = 4 << 20;

let hashPool: HashPool | null = null;
/** One hashing thread per pack worker (downloads and checkpoint imports), started by the first that needs it. */
export const defaultHashPool = () => (hashPool ??= browserHashPool());
export const warmHashing = () => defaultHashPool().warm();

export interface StoredGraph {
  bytes: Uint8Array;
  /** The bytes come from an earlier visit (none downloaded now). */
  fromStore: boolean;
  fetchedBytes: number;
  readBytes: number;
}

/** A graph whose bytes are all in memory, and the check of their digest, which may still run. */
export interface StartedGraph extends StoredGraph {
  /**
   * Resolves once the digest matched the manifest and the file is marked complete; rejects with a
   * DownloadError (sha256 mismatch: the file is deleted) otherwise. Settles by itself; the file
   * stays open until then.
   */
  verified: Promise<void>;
}

/** One graph via the pack store, checked: startGraphFromStore, then the wait for its digest ('hash'). */
export async function loadGraphFromStore(...args: Parameters<typeof startGraphFromStore>): Promise<StoredGraph> {
  const started = await startGraphFromStore(...args);
  const t = performance.now();
  await started.verified;
  args[5]('hash', performance.now() - t);
  return started;
}

/**
 * One graph via the pack store: a complete stored copy is read into one buffer (no other copy);
 * otherwise the stored part (if any) is read and the rest downloaded with `Range` into the same
 * buffer, written to storage in large pieces while the hashing thread hashes every byte of the
 * file, the stored part included (so the digest covers exactly the bytes ONNX Runtime gets).
 * Resolves when all the bytes are in memory and stored; `verified` says when the hashing thread
 * caught up and the digest matched (the file is marked complete then, or deleted). So the caller
 * may start work on the bytes while the last of them are hashed, and must await `verified` before
 * trusting them. A dropped connection is resumed after each of `resumeDelaysMs`; a download still
 * interrupted then is checkpointed (kept for the next load); a wrong one is deleted.
 */
export async function startGraphFromStore(
  store: PackStore,
  fetchFn: typeof fetch,
  packUrl: string,
  g: FileSpec,
  onProgress: StoreProgressFn,
  clock: LoadClock,
  signal?: AbortSignal,
  resumeDelaysMs: readonly number[] = RESUME_DELAYS_MS,
  hashers: HashPool = defaultHashPool(),
): Promise<StartedGraph> {
  const url = packFileUrl(packUrl, g.file);
  signal?.throwIfAborted();
  const file = await store.openFile(g, clock as PhaseClock, signal); // may wait for another tab storing it
  let hasher: FileHasher | null = null;
  let handedOver = false; // the file is closed by `verified`, not here
  try {
    const bytes = allocBytes(g.bytes, g.file, !file.complete);
    const readBytes = file.offset;
    if (file.offset > 0) file.readInto(bytes, (n) => onProgress(n, g.bytes, true, 0));
    if (file.complete) return { bytes, fromStore: true, fetchedBytes: 0, readBytes, verified: Promise.resolve() };
    const shared = isShared(bytes);
    const h = (hasher = hashers.create(shared ? bytes : null));
    /** Copied chunks: waits while the hashing thread is too far behind (bounded memory); charged to 'hash'. */
    const hashRoom = async () => {
      const t = performance.now();
      await h.room();
      clock('hash', performance.now() - t);
    };
    if (shared) h.advance(file.offset);
    else {
      for (let at = 0; at < file.offset; at += REHASH_BYTES) {
        h.update(bytes.subarray(at, Math.min(file.offset, at + REHASH_BYTES)));
        await hashRoom();
      }
    }
    let resumedAt = file.offset;
    let fetchedBytes = 0;
    /** Bytes in `bytes` and given to the hasher; [file.offset, received) is not stored yet. */
    let received = file.offset;
    const writePending = async () => {
      if (received > file.offset) await file.append(bytes.subarray(file.offset, received));
    };
    const sink: RangeSink = {
      get offset() {
        return received;
      },
      reset: async () => {
        await file.reset();
        received = 0;
        h.reset();
      },
      append: async (chunk) => {
        const n = chunk.length;
        bytes.set(chunk, received);
        received += n;
        fetchedBytes += n;
        if (shared) h.advance(received);
        else h.update(chunk, true); // the network's chunk is not used again: its buffer moves to the hasher
        if (received - file.offset >= WRITE_BYTES) await writePending();
        await hashRoom();
      },
    };
    // A dropped connection is resumed at once from what is stored (Range), a few times with a
    // growing pause; after that, or on any other error, the load fails and a later one resumes.
    for (let attempt = 0; ; attempt++) {
      try {
        await downloadInto(fetchFn, url, g.file, g.bytes, sink, (loaded, total) => onProgress(loaded, total, false, resumedAt), signal, (ms) => clock('fetch', ms));
        break;
      } catch (e) {
        const again = e instanceof DownloadError && e.transient && e.keepPartial && attempt < resumeDelaysMs.length && !signal?.aborted;
        if (e instanceof DownloadError && !e.keepPartial) await file.discard();
        else await writePending().then(() => file.checkpoint()).catch(() => {}); // what arrived stays: the next attempt or load resumes from it
        if (!again) throw e;
        await abortable(new Promise((resolve) => setTimeout(resolve, resumeDelaysMs[attempt])), signal);
        resumedAt = received;
      }
    }
    await writePending();
    const verified = (async () => {
      try {
        const digest = await h.digestHex();
        clock('hashThread', h.busyMs);
        if (!(await file.finish(digest))) {
          throw new DownloadError(
            `${g.file}: sha256 mismatch (manifest ${g.sha256.slice(0, 12)}…, file ${digest.slice(0, 12)}…): the file is corrupt or from another export`,
          );
        }
      } finally {
        file.close();
      }
    })();
    verified.catch(() => {}); // reported to whoever awaits it; never an unhandled rejection
    hasher = null;
    handedOver = true;
    return { bytes, fromStore: false, fetchedBytes, readBytes, verified };
  } finally {
    hasher?.dispose();
    if (!handedOver) file.close();
  }
}
