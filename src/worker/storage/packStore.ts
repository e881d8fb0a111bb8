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
// store does not hash: its caller (graphFromStore.ts) hashes every byte of the file, the stored part it
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
import { isLocked, type DirHandleLike, type SyncHandleLike } from './opfs';
import { StoreError, openSync, readJson, removeIfThere, writeJson } from './storeIo';
import { StoredFile, type FileMeta, type FileOwner, type FileSpec, type PhaseClock } from './storedFile';
import { Sha256 } from './sha256';
import { acquire, defaultLocks, type LocksLike, type Release } from './storeLocks';

export const STORE_DIR = 'guided-diffusion-packs-v1';
/** A resume checkpoint (the offset saved) after at least this many new bytes. */
export const CHECKPOINT_BYTES = 32 << 20;

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
const SHA_RE = /^[0-9a-f]{64}$/;

export class PackStore implements FileOwner {
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
