// Where checkpoint bytes come from: anything that can hand out byte ranges (a File or Blob, an OPFS
// file, a download kept on disk). The reader asks only for ranges it has checked against `size`, so a
// source never allocates more than the range asked for, and never the whole file at once.
import { damaged, oneLine } from './errors';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes starting at `offset` (0 ≤ offset, offset + length ≤ size). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A Blob or File (File, OPFS getFile(), fs.openAsBlob in Node) read by slices. */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** Bytes already in memory (tests, small files). `read` returns views, not copies. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async read(offset, length) {
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A source that counts what was read through it (bytes, calls and the largest single read). */
export interface CountingSource extends ByteSource {
  readonly stats: { bytes: number; reads: number; largest: number };
}

export function countingSource(source: ByteSource): CountingSource {
  const stats = { bytes: 0, reads: 0, largest: 0 };
  return {
    size: source.size,
    stats,
    read(offset, length) {
      stats.bytes += length;
      stats.reads += 1;
      stats.largest = Math.max(stats.largest, length);
      return source.read(offset, length);
    },
  };
}

/** Reads [offset, offset + length) after checking it lies inside the file; a short answer is a damaged file. */
export async function readRange(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw damaged(`${what} lies outside the file (bytes ${offset}..${offset + length} of ${source.size}; truncated download?)`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await source.read(offset, length);
  } catch (e) {
    throw damaged(`reading ${what} failed (${oneLine(e instanceof Error ? e.message : String(e))}); was the file changed or removed while it was read?`);
  }
  if (bytes.length !== length) {
    throw damaged(`reading ${what} returned ${bytes.length} bytes instead of ${length}; was the file changed while it was read?`);
  }
  return bytes;
}
