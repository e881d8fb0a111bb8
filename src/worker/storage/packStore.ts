// Packs kept in the Origin Private File System (OPFS), which holds files far larger than the Cache
// API accepts (Chromium refused a 1.1 GB Cache.put):
//
//   guided-diffusion-packs-v1/files/<sha256>.bin   a model file, written while it downloads
//   guided-diffusion-packs-v1/files/<sha256>.json  how far it got: the offset of the last
//                                                  checkpoint, or complete: true
//   guided-diffusion-packs-v1/records/<key>.json   one per pack folder: its manifest (for offline
//                                                  visits) and the files it uses (Cached packs list)
//
// Files are named by the manifest's sha256, so a re-exported pack never reuses stale bytes. The
// store does not hash: its caller (packFiles.ts) hashes every byte of the file, the stored part it
// read back included, and hands the digest to finish(). A file is marked complete only when that
// digest matches; the data is flushed to disk before the mark, and a later visit trusts the mark
// (and checks the size) instead of hashing 1 GB again. Checkpoints only record the offset, without
// flushing: a killed tab leaves its writes with the OS, a resumed download truncates whatever came
// after the checkpoint, and bytes an OS crash lost fail the digest of the whole file at the end.
//
// Tabs share the store through locks (storeLocks.ts): a file open in one tab makes another wait for it
// (then read the completed copy), and a pack being loaded anywhere cannot be deleted.
import type { GraphFile, PackManifest } from '../../shared/manifest';
import { graphParts } from '../runtime/graphChoice';
import type { StoredPackInfo } from '../../shared/protocol';
import { formatBytes } from '../../shared/bytes';
import { isLocked, isNotFound, isQuotaExceeded, type DirHandleLike, type FileHandleLike, type SyncHandleLike } from './opfs';
import { Sha256 } from './sha256';
import { acquire, defaultLocks, type LocksLike, type Release } from './storeLocks';

export const STORE_DIR = 'guided-diffusion-packs-v1';
/** A resume checkpoint (the offset saved) after at least this many new bytes. */
export const CHECKPOINT_BYTES = 32 << 20;
/** Stored files are read in pieces of this size (progress, and no huge single read call). */
const READ_CHUNK = 16 << 20;
/** Opening a file another tab (or the previous page's worker, on reload) still holds: retry this long. */
const LOCK_WAIT_MS = 3000;

/** One stored file: a graph's .onnx file or one of its external-data files. */
export type FileSpec = Pick<GraphFile, 'file' | 'bytes' | 'sha256'>;

/** Time accounting of the load profile. */
export type StorePhase = 'store' | 'read';
export type PhaseClock = (phase: StorePhase, ms: number) => void;

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

interface FileMeta {
  v: 1;
  sha256: string;
  bytes: number;
  /** Bytes on disk up to the last checkpoint (all of them once complete). */
  offset: number;
  complete: boolean;
  /** Written as null. Sidecars of earlier versions kept a hash state here; it is ignored. */
  hash?: unknown;
}

interface RecordFile {
  file: string;
  sha256: string;
  bytes: number;
}

export interface PackRecord {
  v: 1;
  packUrl: string;
  /** The validated manifest as JSON (validated again when it is used). */
  manifest: unknown;
  name: string;
  title: string;
  files: RecordFile[];
  savedAt: number;
}

const dataName = (sha: string) => `${sha}.bin`;
const metaName = (sha: string) => `${sha}.json`;
const now = () => performance.now();
const SHA_RE = /^[0-9a-f]{64}$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function quotaError(file: string, at: number): StoreError {
  return new StoreError(`${file}: the browser refused to store more of it after ${formatBytes(at)} (storage quota exceeded); delete cached packs or free disk space, then load the pack again`);
}

/** One model file in the store, open for this load (an exclusive access handle). */
export class StoredFile {
  private sinceCheckpoint = 0;
  private closed = false;
  /** Bytes stored: [0, offset) of the file. */
  offset: number;
  complete: boolean;
  private readonly store: PackStore;
  readonly graph: FileSpec;
  private readonly data: SyncHandleLike;
  private readonly clock: PhaseClock;

  constructor(store: PackStore, graph: FileSpec, data: SyncHandleLike, offset: number, complete: boolean, clock: PhaseClock) {
    this.store = store;
    this.graph = graph;
    this.data = data;
    this.offset = offset;
    this.complete = complete;
    this.clock = clock;
  }

  /** Reads the stored bytes [0, offset) into `into` (one buffer: no intermediate copies). */
  readInto(into: Uint8Array, onProgress?: (loaded: number) => void): void {
    const t0 = now();
    let at = 0;
    while (at < this.offset) {
      const n = this.data.read(into.subarray(at, Math.min(this.offset, at + READ_CHUNK)), { at });
      if (n <= 0) throw new StoreError(`${this.graph.file}: the stored copy ends at ${at} of ${this.offset} bytes`);
      at += n;
      onProgress?.(at);
    }
    this.clock('read', now() - t0);
  }

  /**
   * Writes `chunk` at the end and checkpoints every CHECKPOINT_BYTES. Large chunks (megabytes)
   * keep the per-call cost of the access handle out of the way.
   */
  async append(chunk: Uint8Array): Promise<void> {
    if (this.complete || this.closed) throw new StoreError(`${this.graph.file}: the stored copy is ${this.complete ? 'complete' : 'closed'}`);
    if (this.offset + chunk.length > this.graph.bytes) throw new StoreError(`${this.graph.file}: more than the manifest's ${this.graph.bytes} bytes`);
    const t = now();
    let written: number;
    try {
      written = this.data.write(chunk, { at: this.offset });
    } catch (e) {
      if (isQuotaExceeded(e)) throw quotaError(this.graph.file, this.offset);
      throw e;
    }
    if (written !== chunk.length) throw quotaError(this.graph.file, this.offset + written);
    this.clock('store', now() - t);
    this.offset += chunk.length;
    this.sinceCheckpoint += chunk.length;
    if (this.sinceCheckpoint >= this.store.checkpointBytes) await this.checkpoint();
  }

  /** Drops what is stored (the server sent the whole file instead of the rest). */
  async reset(): Promise<void> {
    this.data.truncate(0);
    this.offset = 0;
    await this.checkpoint();
  }

  /** Saves the offset: a later load resumes from here (and hashes the stored part again). */
  async checkpoint(): Promise<void> {
    if (this.complete || this.closed) return;
    const t = now();
    await this.store.writeMeta({ v: 1, sha256: this.graph.sha256, bytes: this.graph.bytes, offset: this.offset, complete: false, hash: null }, false);
    this.sinceCheckpoint = 0;
    this.clock('store', now() - t);
  }

  /**
   * Ends a download. `digest` is the SHA-256 of the whole stored file as the caller hashed it (the
   * part it read back and everything it appended). When it matches the manifest, the data is
   * flushed and the file marked complete; otherwise the file is deleted (the next load downloads it
   * from the start). Resolves whether it matched.
   */
  async finish(digest: string): Promise<boolean> {
    if (this.complete || this.closed || this.offset !== this.graph.bytes) throw new StoreError(`${this.graph.file}: finish() before the whole file is stored`);
    if (digest !== this.graph.sha256) {
      await this.discard();
      return false;
    }
    const t = now();
    this.data.flush();
    await this.store.writeMeta({ v: 1, sha256: digest, bytes: this.graph.bytes, offset: this.graph.bytes, complete: true, hash: null });
    this.complete = true;
    this.clock('store', now() - t);
    return true;
  }

  /** Closes and deletes the file (data and sidecar). */
  async discard(): Promise<void> {
    this.close();
    await this.store.removeFile(this.graph.sha256);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.data.close();
    } finally {
      this.store.released(this.graph.sha256);
    }
  }
}

export class PackStore {
  /** sha256 of the files this worker has open (never garbage-collected, never deleted), and their file locks. */
  private readonly open = new Map<string, Release>();
  private readonly files: DirHandleLike;
  private readonly records: DirHandleLike;
  private readonly locks: LocksLike;
  readonly checkpointBytes: number;
  /** Told when openFile has to wait for another tab that has the file open (a download in progress there). */
  onWaitForOtherTab: ((file: string) => void) | null = null;

  private constructor(files: DirHandleLike, records: DirHandleLike, checkpointBytes: number, locks: LocksLike) {
    this.files = files;
    this.records = records;
    this.checkpointBytes = checkpointBytes;
    this.locks = locks;
  }

  /** `locks`: the origin's lock manager (navigator.locks) by default; tests pass one shared by two "tabs". */
  static async open(root: DirHandleLike, checkpointBytes = CHECKPOINT_BYTES, locks: LocksLike = defaultLocks()): Promise<PackStore> {
    const dir = await root.getDirectoryHandle(STORE_DIR, { create: true });
    const files = await dir.getDirectoryHandle('files', { create: true });
    return new PackStore(files, await dir.getDirectoryHandle('records', { create: true }), checkpointBytes, locks);
  }

  /** The record key of a pack folder URL. */
  static key(packUrl: string): string {
    return new Sha256().update(new TextEncoder().encode(packUrl)).digestHex().slice(0, 32);
  }

  /** Bytes of `g` already stored (all of it, the resumable part, or 0); reads the sidecar only. */
  async storedBytes(g: Pick<FileSpec, 'sha256' | 'bytes'>): Promise<number> {
    const m = await this.readMeta(g);
    return m ? m.offset : 0;
  }

  /**
   * Opens `g` for reading or resuming; the caller must close() it. When another tab has it open, waits
   * for that tab (telling onWaitForOtherTab) and then finds what it stored; `signal` ends the wait.
   */
  async openFile(g: FileSpec, clock: PhaseClock, signal?: AbortSignal): Promise<StoredFile> {
    if (this.open.has(g.sha256)) throw new StoreError(`${g.file} is already open in this tab`);
    const lockName = `${STORE_DIR}:file:${g.sha256}`;
    let unlock = await acquire(this.locks, lockName, { ifAvailable: true });
    if (!unlock) {
      this.onWaitForOtherTab?.(g.file);
      unlock = (await acquire(this.locks, lockName, { signal }))!;
    }
    if (this.open.has(g.sha256)) {
      unlock();
      throw new StoreError(`${g.file} is already open in this tab`);
    }
    let data: SyncHandleLike;
    try {
      data = await openSync(await this.files.getFileHandle(dataName(g.sha256), { create: true }), g.file);
    } catch (e) {
      unlock();
      throw e;
    }
    this.open.set(g.sha256, unlock);
    try {
      const meta = await this.readMeta(g);
      const size = data.getSize();
      if (meta?.complete && size === g.bytes) return new StoredFile(this, g, data, g.bytes, true, clock);
      if (meta && !meta.complete && size >= meta.offset) {
        if (size > meta.offset) data.truncate(meta.offset); // written after the last checkpoint
        return new StoredFile(this, g, data, meta.offset, false, clock);
      }
      if (size > 0) data.truncate(0);
      if (meta) await removeIfThere(this.files, metaName(g.sha256)); // e.g. marked complete, but the data is gone
      return new StoredFile(this, g, data, 0, false, clock);
    } catch (e) {
      data.close();
      this.released(g.sha256);
      throw e;
    }
  }

  /** Called by StoredFile.close(), after the file's access handle is closed. */
  released(sha256: string): void {
    this.open.get(sha256)?.();
    this.open.delete(sha256);
  }

  /**
   * Marks the pack at `packUrl` as being loaded (a shared lock, held until the returned Release is
   * called): while any tab holds it, deletePack refuses to delete the pack.
   */
  async holdForLoad(packUrl: string): Promise<Release> {
    return (await acquire(this.locks, `${STORE_DIR}:pack:${PackStore.key(packUrl)}`, { mode: 'shared' }))!;
  }

  async writeMeta(m: FileMeta, durable = true): Promise<void> {
    await writeJson(this.files, metaName(m.sha256), m, durable);
  }

  async removeFile(sha256: string): Promise<void> {
    await removeIfThere(this.files, dataName(sha256));
    await removeIfThere(this.files, metaName(sha256));
  }

  /** The sidecar of `g`, when it is well-formed and belongs to exactly this file. */
  private async readMeta(g: Pick<FileSpec, 'sha256' | 'bytes'>): Promise<FileMeta | null> {
    const m = (await readJson(this.files, metaName(g.sha256))) as Partial<FileMeta> | null;
    if (!m || typeof m !== 'object' || m.v !== 1 || m.sha256 !== g.sha256 || m.bytes !== g.bytes) return null;
    if (!Number.isSafeInteger(m.offset) || m.offset! < 0 || m.offset! > g.bytes || typeof m.complete !== 'boolean') return null;
    if (m.complete && m.offset !== g.bytes) return null;
    return m as FileMeta;
  }

  async getRecord(packUrl: string): Promise<PackRecord | null> {
    return this.readRecord(`${PackStore.key(packUrl)}.json`, packUrl);
  }

  private async readRecord(name: string, packUrl?: string): Promise<PackRecord | null> {
    const r = (await readJson(this.records, name)) as Partial<PackRecord> | null;
    if (!r || typeof r !== 'object' || r.v !== 1 || typeof r.packUrl !== 'string' || !Array.isArray(r.files)) return null;
    if (packUrl !== undefined && r.packUrl !== packUrl) return null;
    const files = r.files.filter((f): f is RecordFile =>
      !!f && typeof f.file === 'string' && typeof f.sha256 === 'string' && SHA_RE.test(f.sha256) && Number.isSafeInteger(f.bytes) && f.bytes > 0,
    );
    return { v: 1, packUrl: r.packUrl, manifest: r.manifest ?? null, name: String(r.name ?? ''), title: String(r.title ?? ''), files, savedAt: Number(r.savedAt) || 0 };
  }

  /**
   * Records that the pack at `packUrl` has `manifest` and keeps `files` (plus the files it kept
   * before that this manifest still names), then deletes files no record uses any more (older
   * exports of the pack).
   */
  async putRecord(packUrl: string, manifest: PackManifest, files: readonly FileSpec[]): Promise<void> {
    const graphs = [manifest.unet, manifest.unetFp16, manifest.classifierGrad, manifest.upsampler].filter((g): g is GraphFile => g !== undefined);
    const named = new Set(graphs.flatMap(graphParts).map((f) => f.sha256));
    const before = (await this.getRecord(packUrl))?.files.filter((f) => named.has(f.sha256)) ?? [];
    const keep = new Map<string, RecordFile>();
    for (const f of [...before, ...files.map((g) => ({ file: g.file, sha256: g.sha256, bytes: g.bytes }))]) keep.set(f.sha256, f);
    const record: PackRecord = { v: 1, packUrl, manifest, name: manifest.name, title: manifest.title, files: [...keep.values()], savedAt: Date.now() };
    await writeJson(this.records, `${PackStore.key(packUrl)}.json`, record);
    await this.collectGarbage();
  }

  private async recordNames(): Promise<string[]> {
    const names: string[] = [];
    for await (const name of this.records.keys()) if (name.endsWith('.json')) names.push(name);
    return names;
  }

  async list(): Promise<StoredPackInfo[]> {
    const out: StoredPackInfo[] = [];
    for (const name of await this.recordNames()) {
      const r = await this.readRecord(name);
      if (!r) continue;
      let bytes = 0;
      let totalBytes = 0;
      let complete = r.files.length > 0;
      for (const f of r.files) {
        const m = await this.readMeta(f);
        bytes += m?.offset ?? 0;
        totalBytes += f.bytes;
        complete &&= m?.complete === true;
      }
      out.push({ key: name.slice(0, -'.json'.length), packUrl: r.packUrl, name: r.name, title: r.title || r.name, bytes, totalBytes, complete });
    }
    return out.sort((a, b) => a.title.localeCompare(b.title) || a.packUrl.localeCompare(b.packUrl));
  }

  /** Deletes a stored pack: its record, and its files that no other stored pack uses. */
  async deletePack(key: string): Promise<void> {
    if (!/^[0-9a-f]{32}$/.test(key)) throw new StoreError('no such stored pack');
    const r = await this.readRecord(`${key}.json`);
    if (!r) throw new StoreError('no such stored pack (already deleted?)');
    const busy = r.files.find((f) => this.open.has(f.sha256));
    if (busy) throw new StoreError(`${r.title || r.name} is being loaded right now (${busy.file}); delete it once the load has finished`);
    const unlock = await acquire(this.locks, `${STORE_DIR}:pack:${key}`, { ifAvailable: true });
    if (!unlock) throw new StoreError(`${r.title || r.name} is being loaded in a tab of this app; delete it once that load has finished`);
    try {
      await removeIfThere(this.records, `${key}.json`);
      await this.collectGarbage();
    } finally {
      unlock();
    }
  }

  /** Removes files that no record names (skipping open ones and ones another tab holds). */
  async collectGarbage(): Promise<void> {
    const used = new Set<string>(this.open.keys());
    for (const name of await this.recordNames()) for (const f of (await this.readRecord(name))?.files ?? []) used.add(f.sha256);
    const names: string[] = [];
    for await (const name of this.files.keys()) names.push(name);
    for (const name of names) {
      const sha = name.replace(/\.(bin|json)$/, '');
      if (used.has(sha)) continue;
      try {
        await removeIfThere(this.files, name);
      } catch (e) {
        if (!isLocked(e)) throw e; // in use by another tab: collected on a later visit
      }
    }
  }
}
