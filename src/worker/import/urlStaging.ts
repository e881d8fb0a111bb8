// Checkpoints given by URL are downloaded into OPFS (guided-diffusion-checkpoints-v1/<key>.pt, with a
// <key>.json naming the URL, size and validator), not into memory: a 1 GB file then costs no RAM, the
// reader reads it by ranges through the file's access handle, and a cut download resumes with a Range
// request (existing downloadInto) from what is on disk, on the next try or the next visit. The staged file
// is removed once the pack is built from it (or the build failed on a complete file).
import type { ByteSource } from '../../checkpoint';
import { abortable, downloadInto, DownloadError, type RangeSink } from '../storage/download';
import type { DirHandleLike, SyncHandleLike } from '../storage/opfs';
import { RESUME_DELAYS_MS } from '../storage/graphFromStore';
import { openSync, readJson, removeIfThere, writeAllAt, writeJson } from '../storage/storeIo';
import { Sha256 } from '../storage/sha256';
import type { UrlHead } from './urlFetch';

export const STAGING_DIR = 'guided-diffusion-checkpoints-v1';

interface StagedMeta {
  v: 1;
  url: string;
  size: number;
  validator: string | null;
}

export interface StagedFile {
  source: ByteSource;
  /** Bytes that were already on disk from an earlier try (0: downloaded from the start). */
  resumedAt: number;
  close(): void;
}

/**
 * Whether the part staged under `meta` may be continued for `head`: the same URL, size and validator
 * (a server that shows none cannot prove the file unchanged), and a server that resumes.
 */
function resumable(meta: StagedMeta | null, head: UrlHead): boolean {
  return meta?.v === 1 && meta.url === head.url && meta.size === head.size && head.validator !== null
    && meta.validator === head.validator && head.ranges;
}

/** A source over an open access handle: each read is one read call of exactly the bytes asked for. */
function handleSource(h: SyncHandleLike, size: number): ByteSource {
  return {
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      const n = h.read(out, { at: offset });
      return n === length ? out : out.subarray(0, n);
    },
  };
}

export class Staging {
  private readonly dir: DirHandleLike;

  private constructor(dir: DirHandleLike) {
    this.dir = dir;
  }

  static async open(root: DirHandleLike): Promise<Staging> {
    return new Staging(await root.getDirectoryHandle(STAGING_DIR, { create: true }));
  }

  private static key(url: string): string {
    return new Sha256().update(new TextEncoder().encode(url)).digestHex().slice(0, 32);
  }

  /**
   * Downloads `head` into its staged file (resuming a part staged for the same URL, size and validator)
   * and opens it for reading; the caller must close() it. A dropped connection is resumed after each
   * of `resumeDelaysMs`; after that the error is thrown and the part stays for the next try.
   */
  async download(fetchFn: typeof fetch, head: UrlHead, onProgress: (loaded: number, total: number) => void,
    signal?: AbortSignal, resumeDelaysMs: readonly number[] = RESUME_DELAYS_MS): Promise<StagedFile> {
    const key = Staging.key(head.url);
    const meta = (await readJson(this.dir, `${key}.json`)) as StagedMeta | null;
    const h = await openSync(await this.dir.getFileHandle(`${key}.pt`, { create: true }), head.name);
    try {
      let at = h.getSize();
      if (!resumable(meta, head) || at > head.size) {
        h.truncate(0);
        at = 0;
      }
      await writeJson(this.dir, `${key}.json`, { v: 1, url: head.url, size: head.size, validator: head.validator } satisfies StagedMeta);
      const resumedAt = at;
      const sink: RangeSink = {
        get offset() {
          return at;
        },
        reset: () => {
          h.truncate(0);
          at = 0;
        },
        append: (chunk) => {
          writeAllAt(h, chunk, at, head.name, (message) => Object.assign(new DownloadError(message), { keepPartial: false }));
          at += chunk.length;
        },
      };
      for (let attempt = 0; ; attempt++) {
        try {
          await downloadInto(fetchFn, head.url, head.name, head.size, sink, onProgress, signal);
          break;
        } catch (e) {
          const again = e instanceof DownloadError && e.transient && e.keepPartial && attempt < resumeDelaysMs.length && !signal?.aborted;
          if (e instanceof DownloadError && !e.keepPartial) h.truncate((at = 0));
          if (!again) throw e;
          await abortable(new Promise((resolve) => setTimeout(resolve, resumeDelaysMs[attempt])), signal);
        }
      }
      h.flush();
      return { source: handleSource(h, head.size), resumedAt, close: () => h.close() };
    } catch (e) {
      h.close();
      throw e;
    }
  }

  /** Bytes of `head` already staged that download() will continue from (0 where it would start again). */
  async stagedBytes(head: UrlHead): Promise<number> {
    const key = Staging.key(head.url);
    const meta = (await readJson(this.dir, `${key}.json`)) as StagedMeta | null;
    if (!resumable(meta, head)) return 0;
    const h = await openSync(await this.dir.getFileHandle(`${key}.pt`, { create: true }), head.name);
    try {
      const at = h.getSize();
      return at > head.size ? 0 : at; // download() starts again from a part longer than the file
    } finally {
      h.close();
    }
  }

  /** Removes the parts of every other URL (an import keeps only its own: stale downloads take no space for long). */
  async removeOthers(urls: readonly string[]): Promise<void> {
    const keep = new Set(urls.map((u) => Staging.key(u)));
    const names: string[] = [];
    for await (const name of this.dir.keys()) names.push(name);
    for (const name of names) if (!keep.has(name.replace(/\.(pt|json)$/, ''))) await removeIfThere(this.dir, name).catch(() => {});
  }

  /** Removes the staged file of `url` (after its pack is built). */
  async remove(url: string): Promise<void> {
    const key = Staging.key(url);
    await removeIfThere(this.dir, `${key}.pt`);
    await removeIfThere(this.dir, `${key}.json`);
  }
}
