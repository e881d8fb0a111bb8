// Memory for one whole model file, which may be larger than the engine lets an ArrayBuffer be.
import { DownloadError } from './download';

/**
 * One zeroed buffer of `n` bytes. Where the engine refuses an ArrayBuffer that large, a
 * WebAssembly.Memory's buffer (up to 4 GiB) holds it, as onnxruntime-web itself does. `shared`:
 * shared memory where this realm has it (cross-origin isolated), so the hashing thread reads the
 * bytes in place; a plain buffer otherwise.
 */
export function allocBytes(n: number, what: string, shared = false): Uint8Array<ArrayBufferLike> {
  if (shared && typeof SharedArrayBuffer !== 'undefined' && globalThis.crossOriginIsolated === true) {
    try {
      return new Uint8Array(new SharedArrayBuffer(n));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e; // too large to share: a plain buffer below
    }
  }
  try {
    return new Uint8Array(n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    try {
      const pages = Math.ceil(n / 65536);
      return new Uint8Array(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer as ArrayBuffer, 0, n);
    } catch {
      throw new DownloadError(`${what}: this browser could not allocate ${n} bytes of memory for it`);
    }
  }
}
