// Streams one file into a preallocated buffer so progress is byte-accurate and a size mismatch
// or a cut connection is caught here, with a message that names the file.

export type ProgressFn = (loaded: number, total: number) => void;

export class DownloadError extends Error {
  /** For a stored download: the bytes stored so far are still a valid prefix (resume from them). */
  keepPartial = true;
  /** The connection failed or dropped (not an answer of the server): trying again may succeed. */
  transient = false;
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** Rejects with the signal's reason as soon as it aborts (for reads that take no signal themselves). */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Fetches `url`, which must be exactly `expectedBytes` long (the manifest's `bytes`). Aborting
 * `signal` cancels the request and the stream read at once and rejects with the signal's reason.
 */
export async function downloadBytes(
  fetchFn: typeof fetch,
  url: string,
  fileName: string,
  expectedBytes: number,
  onProgress: ProgressFn,
  signal?: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  signal?.throwIfAborted();
  let res: Response;
  try {
    res = await abortable(fetchFn(url, { signal }), signal);
  } catch (e) {
    signal?.throwIfAborted();
    throw new DownloadError(`${fileName}: download failed (${errorText(e)})`);
  }
  if (!res.ok) throw new DownloadError(`${fileName}: HTTP ${res.status} ${res.statusText}`.trim());
  const out = new Uint8Array(expectedBytes);
  let loaded = 0;
  onProgress(0, expectedBytes);
  if (!res.body) {
    // No stream (rare): one chunk, still size-checked.
    const all = new Uint8Array(await abortable(res.arrayBuffer(), signal));
    if (all.length !== expectedBytes) throw sizeError(fileName, all.length, expectedBytes);
    out.set(all);
    onProgress(expectedBytes, expectedBytes);
    return out;
  }
  await readChunks(res.body, signal, (p) => p, (chunk) => {
    if (loaded + chunk.length > expectedBytes) throw sizeError(fileName, loaded + chunk.length, expectedBytes, true);
    out.set(chunk, loaded);
    loaded += chunk.length;
    onProgress(loaded, expectedBytes);
  }, (e) => new DownloadError(`${fileName}: download interrupted after ${loaded} of ${expectedBytes} bytes (${errorText(e)})`));
  if (loaded !== expectedBytes) throw sizeError(fileName, loaded, expectedBytes);
  return out;
}

/** Where a resumable download writes: bytes [0, offset) are already there. */
export interface RangeSink {
  readonly offset: number;
  /** Drop everything stored: the download starts again from byte 0. */
  reset(): Promise<void> | void;
  /** Append `chunk` at `offset` (and advance it). The sink may take `chunk` over (detach its buffer). */
  append(chunk: Uint8Array): Promise<void> | void;
}

export interface RangeResult {
  /** The byte the response started at (0 when the server sent the whole file). */
  startedAt: number;
  /** True when bytes were kept but the server ignored the range (answered 200): they were dropped. */
  restarted: boolean;
  fetchedBytes: number;
}

/** `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`); null when absent or malformed. */
export function parseContentRange(h: string | null): { start: number; end: number; total: number | null } | null {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h ?? '');
  if (!m) return null;
  const [start, end] = [Number(m[1]), Number(m[2])];
  const total = m[3] === '*' ? null : Number(m[3]);
  if (end < start || (total !== null && end >= total)) return null;
  return { start, end, total };
}

/**
 * Downloads the rest of `url` into `sink`, which already holds its first `sink.offset` bytes:
 * asks for `Range: bytes=OFFSET-` and continues on 206. A server that ignores the range (200) or
 * answers another range makes it start again from byte 0; 416 (the stored part is not a prefix of
 * this file) too. `onWait` receives the ms spent waiting for the network. Errors are
 * DownloadErrors; `keepPartial` on them says whether what was stored is still a valid prefix.
 */
export async function downloadInto(
  fetchFn: typeof fetch,
  url: string,
  fileName: string,
  expectedBytes: number,
  sink: RangeSink,
  onProgress: ProgressFn,
  signal?: AbortSignal,
  onWait: (ms: number) => void = () => {},
): Promise<RangeResult> {
  signal?.throwIfAborted();
  if (sink.offset > expectedBytes) await sink.reset();
  if (sink.offset === expectedBytes) {
    onProgress(expectedBytes, expectedBytes);
    return { startedAt: expectedBytes, restarted: false, fetchedBytes: 0 };
  }
  const wait = async <T>(p: Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await abortable(p, signal);
    } finally {
      onWait(performance.now() - t0);
    }
  };
  const request = async (from: number): Promise<Response> => {
    try {
      // no-store: the file is kept in OPFS; a second copy in the HTTP cache would only cost disk.
      return await wait(fetchFn(url, { signal, cache: 'no-store', headers: from > 0 ? { Range: `bytes=${from}-` } : {} }));
    } catch (e) {
      signal?.throwIfAborted();
      throw transient(new DownloadError(`${fileName}: download failed (${errorText(e)})`));
    }
  };

  const from = sink.offset;
  let res = await request(from);
  let restarted = false;
  let startedAt = from;
  if (from > 0) {
    const range = res.status === 206 ? parseContentRange(res.headers.get('Content-Range')) : null;
    if (range && range.total !== null && range.total !== expectedBytes) {
      void res.body?.cancel().catch(() => {});
      const e = new DownloadError(`${fileName}: the server says the file has ${range.total} bytes but the manifest says ${expectedBytes} (the file does not belong to this manifest)`);
      e.keepPartial = false;
      throw e;
    }
    if (res.status === 200 || (res.status === 206 && range?.start !== from) || res.status === 416) {
      // Range ignored (200): the body is the whole file. Another range, or none satisfiable: ask again for all of it.
      restarted = true;
      startedAt = 0;
      await sink.reset();
      if (res.status !== 200) {
        void res.body?.cancel().catch(() => {});
        res = await request(0);
      }
    }
  }
  if (!res.ok) throw new DownloadError(`${fileName}: HTTP ${res.status} ${res.statusText}`.trim());

  let loaded = sink.offset;
  let fetchedBytes = 0;
  onProgress(loaded, expectedBytes);
  if (!res.body) {
    const all = new Uint8Array(await wait(res.arrayBuffer()));
    const n = all.length;
    if (loaded + n !== expectedBytes) throw sizeError(fileName, loaded + n, expectedBytes, false, false);
    await sink.append(all);
    onProgress(expectedBytes, expectedBytes);
    return { startedAt, restarted, fetchedBytes: n };
  }
  await readChunks(res.body, signal, wait, async (chunk) => {
    const n = chunk.length; // read first: the sink may take the chunk's buffer
    if (loaded + n > expectedBytes) throw sizeError(fileName, loaded + n, expectedBytes, true, false);
    await sink.append(chunk);
    loaded += n;
    fetchedBytes += n;
    onProgress(loaded, expectedBytes);
  }, (e) => transient(new DownloadError(
    `${fileName}: download interrupted after ${loaded} of ${expectedBytes} bytes (${errorText(e)}); the next load continues from there`,
  )));
  if (loaded !== expectedBytes) throw sizeError(fileName, loaded, expectedBytes, false, true);
  return { startedAt, restarted, fetchedBytes };
}

/**
 * Hands `body`'s chunks to `take` in order. Aborting `signal` cancels the reader, which ends a pending
 * read at once (and tells the source to stop); a read that fails otherwise becomes `interrupted(e)`.
 * `guard` wraps each read (a stall timeout, or nothing).
 */
async function readChunks(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
  guard: <T>(p: Promise<T>) => Promise<T>,
  take: (chunk: Uint8Array) => Promise<void> | void,
  interrupted: (e: unknown) => Error,
): Promise<void> {
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await guard(reader.read());
      } catch (e) {
        signal?.throwIfAborted();
        throw interrupted(e);
      }
      signal?.throwIfAborted();
      if (chunk.done) return;
      await take(chunk.value);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}

function sizeError(fileName: string, got: number, expected: number, atLeast = false, resumable = false): DownloadError {
  const e = new DownloadError(
    `${fileName}: got ${atLeast ? 'at least ' : ''}${got} bytes but the manifest says ${expected}` +
      ' (the download was cut short or the file does not belong to this manifest)' +
      (resumable ? `; the next load continues from byte ${got}` : ''),
  );
  e.keepPartial = resumable;
  e.transient = resumable; // a body that ended early: the connection dropped
  return e;
}

function transient(e: DownloadError): DownloadError {
  e.transient = true;
  return e;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
