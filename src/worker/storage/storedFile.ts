// One model file of the pack store, open for a load: read back, appended to while it downloads,
// checkpointed, finished against its digest (the layout and the rules: packStore.ts).
import type { GraphFile } from '../../shared/manifest';
import type { SyncHandleLike } from './opfs';
import { StoreError, writeAllAt } from './storeIo';

/** Stored files are read in pieces of this size (progress, and no huge single read call). */
const READ_CHUNK = 16 << 20;

/** One stored file: a graph's .onnx file or one of its external-data files. */
export type FileSpec = Pick<GraphFile, 'file' | 'bytes' | 'sha256'>;

/** Time accounting of the load profile. */
export type StorePhase = 'store' | 'read';
export type PhaseClock = (phase: StorePhase, ms: number) => void;

export interface FileMeta {
  v: 1;
  sha256: string;
  bytes: number;
  /** Bytes on disk up to the last checkpoint (all of them once complete). */
  offset: number;
  complete: boolean;
  /** Written as null. Sidecars of earlier versions kept a hash state here; it is ignored. */
  hash?: unknown;
}

/** What a stored file needs of the store that opened it. */
export interface FileOwner {
  readonly checkpointBytes: number;
  writeMeta(m: FileMeta, durable?: boolean): Promise<void>;
  removeFile(sha256: string): Promise<void>;
  released(sha256: string): void;
}

const now = () => performance.now();

/** One model file in the store, open for this load (an exclusive access handle). */
export class StoredFile {
  private sinceCheckpoint = 0;
  private closed = false;
  /** Bytes stored: [0, offset) of the file. */
  offset: number;
  complete: boolean;
  private readonly store: FileOwner;
  readonly graph: FileSpec;
  private readonly data: SyncHandleLike;
  private readonly clock: PhaseClock;

  constructor(store: FileOwner, graph: FileSpec, data: SyncHandleLike, offset: number, complete: boolean, clock: PhaseClock) {
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
    writeAllAt(this.data, chunk, this.offset, this.graph.file, (message) => new StoreError(`${message}, then load the pack again`));
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
