// PNG output that never leaves a partial file behind: write to a temporary name, rename at the end.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import type { RgbaImage } from '../../src/diffusion';

export function encodePng(img: RgbaImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png);
}

/** Temporary sibling name used until the final rename. */
export const tempName = (path: string) => `${path}.tmp-${process.pid}`;

/** Writes `data` to `path` atomically (same folder, so rename is atomic). */
export function writeFileAtomic(path: string, data: Buffer | string): void {
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
