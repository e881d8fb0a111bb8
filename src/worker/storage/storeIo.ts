// Small JSON and access-handle helpers over OPFS, shared by the pack store and the checkpoint staging:
// an access handle another tab holds is waited for, a torn JSON file reads as absent.
import { formatBytes } from '../../shared/bytes';
import { isLocked, isNotFound, isQuotaExceeded, type DirHandleLike, type FileHandleLike, type SyncHandleLike } from './opfs';

/** Opening a file another tab (or the previous page's worker, on reload) still holds: retry this long. */
const LOCK_WAIT_MS = 3000;

const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export async function openSync(fh: FileHandleLike, what: string): Promise<SyncHandleLike> {
  const deadline = now() + LOCK_WAIT_MS;
  for (let wait = 25; ; wait = Math.min(400, wait * 2)) {
    try {
      return await fh.createSyncAccessHandle();
    } catch (e) {
      if (!isLocked(e)) throw e;
      if (now() > deadline) {
        throw new StoreError(`${what} is open in another tab of this app (the browser lets one tab write it at a time); close that tab or wait for its download, then load the pack again`);
      }
      await sleep(wait);
    }
  }
}

export async function readJson(dir: DirHandleLike, name: string): Promise<unknown> {
  let h: SyncHandleLike;
  try {
    h = await openSync(await dir.getFileHandle(name), name);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
  try {
    const buf = new Uint8Array(h.getSize());
    h.read(buf, { at: 0 });
    return JSON.parse(new TextDecoder().decode(buf));
  } catch {
    return null; // torn or foreign content: as if absent
  } finally {
    h.close();
  }
}

/** `durable`: flushed to disk before it resolves (else the OS writes it when it likes). */
export async function writeJson(dir: DirHandleLike, name: string, value: unknown, durable = true): Promise<void> {
  const h = await openSync(await dir.getFileHandle(name, { create: true }), name);
  try {
    const b = new TextEncoder().encode(JSON.stringify(value));
    h.write(b, { at: 0 });
    h.truncate(b.length);
    if (durable) h.flush();
  } finally {
    h.close();
  }
}

export async function removeIfThere(dir: DirHandleLike, name: string): Promise<void> {
  try {
    await dir.removeEntry(name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/**
 * Writes all of `chunk` at byte `at` of `h`. Where the storage quota refuses it, or lets only part of it
 * through, throws `full(message)`, the message naming `file` and how much of it was stored.
 */
export function writeAllAt(h: SyncHandleLike, chunk: Uint8Array, at: number, file: string, full: (message: string) => Error): void {
  let written: number;
  try {
    written = h.write(chunk, { at });
  } catch (e) {
    if (!isQuotaExceeded(e)) throw e;
    written = 0;
  }
  if (written !== chunk.length) {
    throw full(`${file}: the browser refused to store more of it after ${formatBytes(at + written)} (storage quota exceeded); delete cached packs or free disk space`);
  }
}
