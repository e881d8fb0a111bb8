import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cacheKey, loadGraphBytes, type CacheLike } from '../../../src/worker/storage/packCache';
import type { GraphFile } from '../../../src/shared/manifest';

const BASE = 'https://app.test/models/p/';
const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 251);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const graph = (over: Partial<GraphFile> = {}): GraphFile => ({
  file: 'unet.onnx', dtype: 'float32', bytes: bytes.length, sha256: sha(bytes), inputs: [], outputs: [], ...over,
});

/** A streamed response in `chunks` pieces; `failAfter` chunks, the stream errors (a cut connection). */
function streamed(body: Uint8Array, chunks = 4, failAfter = Infinity): Response {
  let i = 0;
  const size = Math.ceil(body.length / chunks);
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (i >= failAfter) return c.error(new TypeError('network error'));
        if (i * size >= body.length) return c.close();
        c.enqueue(body.slice(i * size, ++i * size));
      },
    }),
  );
}

function memoryCache(): CacheLike & { store: Map<string, Uint8Array> } {
  const store = new Map<string, Uint8Array>();
  return {
    store,
    async match(k) {
      const b = store.get(k);
      return b ? new Response(b.slice()) : undefined;
    },
    async put(k, res) {
      store.set(k, new Uint8Array(await res.arrayBuffer()));
    },
    async delete(k) {
      return store.delete(k);
    },
    async keys() {
      return [...store.keys()].map((url) => ({ url }));
    },
  };
}

function fetchOf(make: () => Response) {
  const urls: string[] = [];
  const fetchFn = (async (url: string) => {
    urls.push(url);
    return make();
  }) as typeof fetch;
  return { fetchFn, urls };
}

describe('loadGraphBytes', () => {
  it('downloads with monotone byte-accurate progress, then caches under a sha-keyed URL', async () => {
    const cache = memoryCache();
    const { fetchFn, urls } = fetchOf(() => streamed(bytes));
    const progress: [number, number, boolean][] = [];
    const got = await loadGraphBytes({ fetchFn, cache }, BASE, graph(), (...p) => progress.push(p));
    expect(got).toEqual(bytes);
    expect(urls).toEqual([`${BASE}unet.onnx`]);
    expect(progress[0]).toEqual([0, 1000, false]);
    expect(progress.at(-1)).toEqual([1000, 1000, false]);
    expect(progress.map((p) => p[0])).toEqual([...progress.map((p) => p[0])].sort((a, b) => a - b));
    expect([...cache.store.keys()]).toEqual([cacheKey(`${BASE}unet.onnx`, sha(bytes))]);
  });

  it('a second load comes from the cache and fetches nothing', async () => {
    const cache = memoryCache();
    await loadGraphBytes({ fetchFn: fetchOf(() => streamed(bytes)).fetchFn, cache }, BASE, graph(), () => {});
    const second = fetchOf(() => streamed(bytes));
    const progress: boolean[] = [];
    expect(await loadGraphBytes({ fetchFn: second.fetchFn, cache }, BASE, graph(), (_l, _t, c) => progress.push(c))).toEqual(bytes);
    expect(second.urls).toEqual([]);
    expect(progress).toEqual([true]);
  });

  it('replaces a corrupt cache entry and drops entries of an older export', async () => {
    const cache = memoryCache();
    cache.store.set(cacheKey(`${BASE}unet.onnx`, sha(bytes)), new Uint8Array(1000));
    cache.store.set(cacheKey(`${BASE}unet.onnx`, 'b'.repeat(64)), bytes);
    const { fetchFn, urls } = fetchOf(() => streamed(bytes));
    expect(await loadGraphBytes({ fetchFn, cache }, BASE, graph(), () => {})).toEqual(bytes);
    expect(urls).toHaveLength(1);
    expect([...cache.store.keys()]).toEqual([cacheKey(`${BASE}unet.onnx`, sha(bytes))]);
    expect(cache.store.values().next().value).toEqual(bytes);
  });

  it('rejects a sha256 mismatch and caches nothing', async () => {
    const cache = memoryCache();
    const evil = bytes.map((b) => b ^ 1);
    await expect(loadGraphBytes({ fetchFn: fetchOf(() => streamed(evil)).fetchFn, cache }, BASE, graph(), () => {})).rejects.toThrow(
      /unet\.onnx: sha256 mismatch/,
    );
    expect(cache.store.size).toBe(0);
  });

  it.each([
    ['HTTP errors', () => new Response('nope', { status: 404, statusText: 'Not Found' }), /unet\.onnx: HTTP 404 Not Found/],
    ['a cut connection', () => streamed(bytes, 4, 2), /download interrupted after 500 of 1000 bytes/],
    ['a short file', () => streamed(bytes.slice(0, 600)), /got 600 bytes but the manifest says 1000/],
    ['a long file', () => streamed(new Uint8Array(1500)), /got at least .* bytes but the manifest says 1000/],
  ])('names the file on %s', async (_what, make, message) => {
    await expect(loadGraphBytes({ fetchFn: fetchOf(make).fetchFn, cache: null }, BASE, graph(), () => {})).rejects.toThrow(message);
  });

  it('reports a network failure', async () => {
    const fetchFn = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    await expect(loadGraphBytes({ fetchFn, cache: null }, BASE, graph(), () => {})).rejects.toThrow(/unet\.onnx: download failed \(Failed to fetch\)/);
  });
});
