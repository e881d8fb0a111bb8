// Streams one file into a preallocated buffer so progress is byte-accurate and a size mismatch
// or a cut connection is caught here, with a message that names the file.

export type ProgressFn = (loaded: number, total: number) => void;

export class DownloadError extends Error {
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
  const reader = res.body.getReader();
  // Cancelling the reader ends a pending read at once (and tells the source to stop).
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        signal?.throwIfAborted();
        throw new DownloadError(`${fileName}: download interrupted after ${loaded} of ${expectedBytes} bytes (${errorText(e)})`);
      }
      signal?.throwIfAborted();
      if (chunk.done) break;
      if (loaded + chunk.value.length > expectedBytes) throw sizeError(fileName, loaded + chunk.value.length, expectedBytes, true);
      out.set(chunk.value, loaded);
      loaded += chunk.value.length;
      onProgress(loaded, expectedBytes);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
  if (loaded !== expectedBytes) throw sizeError(fileName, loaded, expectedBytes);
  return out;
}

function sizeError(fileName: string, got: number, expected: number, atLeast = false): DownloadError {
  return new DownloadError(
    `${fileName}: got ${atLeast ? 'at least ' : ''}${got} bytes but the manifest says ${expected}` +
      ' (the download was cut short or the file does not belong to this manifest)',
  );
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
