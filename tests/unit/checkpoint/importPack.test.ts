// The page's pack builder (src/worker/import/importPack.ts) against `npm run convert`: from the same narrowed
// checkpoint pair and templates, the same graphs and the same external-data bytes (sha256 of every file), in
// an in-memory OPFS; plus recognition messages and refusals naming the first difference, and the fp16 cast
// against numpy's answers.
import { openAsBlob, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { blobSource } from '../../../src/checkpoint';
import { castFloat16, float32ToFloat16Bits } from '../../../src/checkpoint/fill';
import type { PackManifest } from '../../../src/shared/manifest';
import { importCheckpoints, isImportedPackUrl, type ImportFile, type ImportOptions } from '../../../src/worker/import/importPack';
import { HashPool } from '../../../src/worker/storage/hasher';
import { PackStore } from '../../../src/worker/storage/packStore';
import { TemplateSource } from '../../../src/worker/import/templateSource';
import { FakeDir } from '../app/fakeOpfs';
import { packFixture } from './packFixture';

const APP = 'https://app.test/';
let dir = '';
let fp16Cases = '';

/** fetch over the fixture's templates folder, served at https://app.test/templates/. */
function templateFetch(root: string): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const path = new URL(String(input)).pathname.replace(/^\/templates\//, '');
    try {
      return new Response(readFileSync(join(root, path)));
    } catch {
      return new Response('not found', { status: 404 });
    }
  }) as typeof fetch;
}

async function files(...names: [string, string][]): Promise<ImportFile[]> {
  return Promise.all(names.map(async ([file, name]) => ({ name, source: blobSource(await openAsBlob(join(dir, file))) })));
}

async function build(list: ImportFile[], fp16 = true, more: Partial<ImportOptions> = {}) {
  const store = await PackStore.open(new FakeDir());
  const templates = new TemplateSource(`${APP}templates/`, APP, templateFetch(join(dir, 'templates')));
  const seen: string[] = [];
  const result = await importCheckpoints(list, templates, store, { fp16, appBase: APP, onRecognised: (rs) => seen.push(...rs.map((r) => r.description)), ...more });
  return { result, store, seen };
}

beforeAll(async () => {
  ({ dir, fp16Cases } = await packFixture());
}, 900_000);

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('importCheckpoints', () => {
  it('builds the pack npm run convert builds: the same graphs and external-data bytes', async () => {
    const { result, store, seen } = await build(await files(['unet.pt', 'unet.pt'], ['classifier.pt', 'classifier.pt']));
    expect(seen).toEqual([
      'unet.pt: Narrowed 64×64 class-conditional U-Net (test fixture), 956K parameters',
      'classifier.pt: Narrowed 64×64 noisy classifier (test fixture), 1.9M parameters',
    ]);
    const convert = JSON.parse(readFileSync(join(dir, 'pack', 'manifest.json'), 'utf8')) as PackManifest;
    const m = result.manifest;
    for (const key of ['unet', 'unetFp16', 'classifierGrad'] as const) {
      expect(m[key], key).toBeDefined();
      const { externalData, ...graph } = m[key]!;
      const { externalData: want, ...wantGraph } = convert[key]!;
      expect(graph).toEqual(wantGraph);
      expect(externalData).toEqual(want);
    }
    // Everything the sampler reads is the same too (name, title and source aside).
    const fields = (x: PackManifest) => ({ ...x, name: '', title: '', source: '', unet: null, unetFp16: null, classifierGrad: null });
    expect(fields(m)).toEqual(fields(convert));
    expect(isImportedPackUrl(result.packUrl)).toBe(true);
    expect(result.timings.weightBytes).toBe(
      [m.unet, m.unetFp16!, m.classifierGrad!].flatMap((g) => g.externalData ?? []).reduce((s, e) => s + e.bytes, 0));
    // Stored like a downloaded pack: listed, complete, and deletable.
    const [stored] = await store.list();
    expect(stored).toMatchObject({ packUrl: result.packUrl, complete: true, title: 'unet.pt + classifier.pt (your files)' });
    const sizes = readFileSync(join(dir, 'pack', 'unet.onnx.data')).length;
    expect(stored.totalBytes).toBeGreaterThan(sizes);
    await store.deletePack(stored.key);
    expect(await store.list()).toEqual([]);
  });

  it('hashes each data file on the hashing pool as it is filled (shared memory): the digests npm run convert writes', async () => {
    vi.stubGlobal('crossOriginIsolated', true); // allocBytes then hands out SharedArrayBuffers, as in the isolated page
    // The pool's jobs run inline here (no Worker in Node) but take the same shared-buffer path; small batches
    // make the fill tell it many times how far it got.
    const pool = new HashPool(null, { batchBytes: 4096, maxQueuedBytes: 1 << 20 });
    const create = vi.spyOn(pool, 'create');
    const { result } = await build(await files(['unet.pt', 'unet.pt'], ['classifier.pt', 'classifier.pt']), true, { hashers: pool });
    const convert = JSON.parse(readFileSync(join(dir, 'pack', 'manifest.json'), 'utf8')) as PackManifest;
    const data = (m: PackManifest) => [m.unet, m.unetFp16!, m.classifierGrad!].flatMap((g) => g.externalData ?? []);
    expect(data(result.manifest)).toEqual(data(convert));
    expect(create).toHaveBeenCalledTimes(data(convert).length);
    expect(create.mock.calls.every(([buf]) => buf?.buffer instanceof SharedArrayBuffer)).toBe(true);
    expect(result.timings.hashMs).toBeGreaterThan(0);
  });

  it('builds a U-Net alone (unguided), without the fp16 graph when the adapter has no shader-f16', async () => {
    const { result } = await build(await files(['unet.pt', '64x64_diffusion.pt']), false);
    expect(result.manifest.classifierGrad).toBeUndefined();
    expect(result.manifest.unetFp16).toBeUndefined();
    expect(result.manifest.title).toBe('64x64_diffusion.pt (your files)');
  });

  it('refuses a classifier alone, and a file that matches no template naming the first difference and the nearest', async () => {
    await expect(build(await files(['classifier.pt', 'c.pt']))).rejects.toThrow(/no U-Net among c\.pt/);
    await expect(build(await files(['odd.pt', 'odd.pt']))).rejects.toThrow(
      'odd.pt matches no released network: "out.2.bias" has shape [5], not [6] (nearest: Narrowed 64×64 class-conditional U-Net (test fixture);')
  });
});

describe('fp16 cast', () => {
  it('rounds every case as numpy astype(float16) does', () => {
    const { float32Bits, float16Bits } = JSON.parse(readFileSync(fp16Cases, 'utf8')) as { float32Bits: number[]; float16Bits: number[] };
    expect(float32Bits.length).toBeGreaterThan(7000);
    const got = float32Bits.map((b) => float32ToFloat16Bits(b >>> 0));
    expect(got).toEqual(float16Bits);
    const src = new Uint8Array(new Uint32Array(float32Bits).buffer);
    const out = new Uint8Array(src.length / 2);
    castFloat16(src, out);
    expect([...new Uint16Array(out.buffer)]).toEqual(float16Bits);
  });
});
