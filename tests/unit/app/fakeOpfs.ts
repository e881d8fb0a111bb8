// An in-memory Origin Private File System for the pack store's tests: directories, files with
// exclusive synchronous access handles (like Chromium's), NotFoundError / NoModificationAllowedError
// / QuotaExceededError as DOMExceptions, and counters of what was written and read.
import type { DirHandleLike, FileHandleLike, SyncHandleLike } from '../../../src/worker/storage/opfs';

export class FakeFile {
  data = new Uint8Array(0);
  size = 0;
  locked = false;
  bytes(): Uint8Array {
    return this.data.slice(0, this.size);
  }
}

export interface FakeFsStats {
  written: number;
  read: number;
  flushes: number;
  /** Bytes the "disk" still takes (Infinity: no limit). */
  spaceLeft: number;
}

class FakeSyncHandle implements SyncHandleLike {
  private closed = false;
  private readonly f: FakeFile;
  private readonly stats: FakeFsStats;
  constructor(f: FakeFile, stats: FakeFsStats) {
    this.f = f;
    this.stats = stats;
  }
  private live(): void {
    if (this.closed) throw new DOMException('handle closed', 'InvalidStateError');
  }
  read(buffer: Uint8Array, options?: { at?: number }): number {
    this.live();
    const at = options?.at ?? 0;
    const n = Math.max(0, Math.min(buffer.length, this.f.size - at));
    buffer.set(this.f.data.subarray(at, at + n));
    this.stats.read += n;
    return n;
  }
  write(buffer: Uint8Array, options?: { at?: number }): number {
    this.live();
    const at = options?.at ?? 0;
    const grow = Math.max(0, at + buffer.length - this.f.size);
    if (grow > this.stats.spaceLeft) throw new DOMException('quota', 'QuotaExceededError');
    this.stats.spaceLeft -= grow;
    if (at + buffer.length > this.f.data.length) {
      const next = new Uint8Array(Math.max(at + buffer.length, this.f.data.length * 2));
      next.set(this.f.data.subarray(0, this.f.size));
      this.f.data = next;
    }
    this.f.data.set(buffer, at);
    this.f.size = Math.max(this.f.size, at + buffer.length);
    this.stats.written += buffer.length;
    return buffer.length;
  }
  truncate(size: number): void {
    this.live();
    if (size < this.f.size) {
      this.f.data.fill(0, size, this.f.size);
      this.stats.spaceLeft += this.f.size - size;
    }
    this.f.size = size;
  }
  getSize(): number {
    this.live();
    return this.f.size;
  }
  flush(): void {
    this.live();
    this.stats.flushes++;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.f.locked = false;
  }
}

export class FakeDir implements DirHandleLike {
  readonly entries = new Map<string, FakeFile | FakeDir>();
  readonly stats: FakeFsStats;
  constructor(stats: FakeFsStats = { written: 0, read: 0, flushes: 0, spaceLeft: Infinity }) {
    this.stats = stats;
  }
  async getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike> {
    let f = this.entries.get(name);
    if (!f) {
      if (!options?.create) throw new DOMException(`${name} not found`, 'NotFoundError');
      f = new FakeFile();
      this.entries.set(name, f);
    }
    if (!(f instanceof FakeFile)) throw new DOMException(`${name} is a directory`, 'TypeMismatchError');
    const file = f;
    return {
      createSyncAccessHandle: async () => {
        if (file.locked) throw new DOMException(`${name} is locked`, 'NoModificationAllowedError');
        file.locked = true;
        return new FakeSyncHandle(file, this.stats);
      },
    };
  }
  async getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<FakeDir> {
    let d = this.entries.get(name);
    if (!d) {
      if (!options?.create) throw new DOMException(`${name} not found`, 'NotFoundError');
      d = new FakeDir(this.stats);
      this.entries.set(name, d);
    }
    if (!(d instanceof FakeDir)) throw new DOMException(`${name} is a file`, 'TypeMismatchError');
    return d;
  }
  async removeEntry(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (!e) throw new DOMException(`${name} not found`, 'NotFoundError');
    if (e instanceof FakeFile && e.locked) throw new DOMException(`${name} is locked`, 'NoModificationAllowedError');
    if (e instanceof FakeFile) this.stats.spaceLeft += e.size;
    this.entries.delete(name);
  }
  async *keys(): AsyncIterable<string> {
    for (const k of [...this.entries.keys()]) yield k;
  }
  /** A file by path ("a/b/c"), for assertions. */
  file(path: string): FakeFile | undefined {
    const parts = path.split('/');
    const d = this.dir(parts.slice(0, -1));
    const f = d?.entries.get(parts.at(-1)!);
    return f instanceof FakeFile ? f : undefined;
  }
  names(path: string): string[] {
    const d = this.dir(path.split('/'));
    return d ? [...d.entries.keys()].sort() : [];
  }
  private dir(parts: string[]): FakeDir | undefined {
    if (parts.length === 0) return this;
    const next = this.entries.get(parts[0]);
    return next instanceof FakeDir ? next.dir(parts.slice(1)) : undefined;
  }
}

/** A server for one file with Range support, and ways to misbehave. */
export interface ServeOptions {
  /** Answer 200 with the whole file even when a Range is asked (a server without range support). */
  ignoreRange?: boolean;
  /** The connection drops once the file's bytes up to this offset are sent. */
  cutAt?: number;
  /** cutAt applies to this many requests, then the connection holds (default: every request). */
  cutTimes?: number;
  /** Answer a range with this Content-Range start instead of the one asked. */
  wrongStart?: number;
  /** Answer 416 to any range request. */
  rangeNotSatisfiable?: boolean;
  /** Content-Range total to claim (default: the real length). */
  claimTotal?: number;
  chunk?: number;
}

export function serveFile(body: Uint8Array, opts: ServeOptions = {}) {
  const requests: { url: string; range: string | null; cache?: RequestCache }[] = [];
  let sent = 0;
  const fetchFn = (async (url: string, init?: RequestInit) => {
    const range = new Headers(init?.headers).get('Range');
    requests.push({ url, range, cache: init?.cache });
    const cutAt = opts.cutTimes === undefined || requests.length <= opts.cutTimes ? opts.cutAt : undefined;
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (range && !opts.ignoreRange) {
      if (opts.rangeNotSatisfiable) return new Response('', { status: 416, headers: { 'Content-Range': `bytes */${body.length}` } });
      start = Number(/^bytes=(\d+)-$/.exec(range)![1]);
      if (opts.wrongStart !== undefined) start = opts.wrongStart;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${opts.claimTotal ?? body.length}`;
    }
    const chunk = opts.chunk ?? 1000;
    let at = start;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (cutAt !== undefined && at >= cutAt) return c.error(new TypeError('network error'));
        if (at >= body.length) return c.close();
        const end = Math.min(body.length, at + chunk, cutAt ?? Infinity);
        c.enqueue(body.slice(at, end));
        sent += end - at;
        at = end;
      },
    });
    return new Response(stream, { status, headers });
  }) as typeof fetch;
  return { fetchFn, requests, sentBytes: () => sent };
}
