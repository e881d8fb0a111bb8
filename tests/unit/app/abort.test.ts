// Switching packs mid-download (issue 13): every fetch and stream read in src/worker takes the
// load's AbortSignal, so an abort ends a slow download at once instead of after the whole file.
import { describe, expect, it } from 'vitest';
import { downloadBytes } from '../../../src/worker/storage/download';
import { loadManifest } from '../../../src/worker/storage/manifestLoader';
import { loadGraphBytes } from '../../../src/worker/storage/packCache';
import type { GraphFile } from '../../../src/shared/manifest';

const BASE = 'https://app.test/models/p/';
const FILE_BYTES = 1 << 20;

/** A body of `chunks` 1 KiB chunks: the first at once, then one per `stallMs` (a slow connection). */
function slowStream(stallMs = 60_000, chunks = Infinity) {
  const state = { cancelled: false, reason: undefined as unknown, pulls: 0 };
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      state.pulls++;
      if (state.pulls > chunks) return c.close();
      if (state.pulls === 1) return c.enqueue(new Uint8Array(1024));
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!state.cancelled) c.enqueue(new Uint8Array(1024));
          resolve();
        }, stallMs);
        timers.add(t);
      });
    },
    cancel(reason) {
      state.cancelled = true;
      state.reason = reason;
      for (const t of timers) clearTimeout(t);
    },
  });
  return { body, state };
}

/** A fetch that honours nothing but the body stream (like a test double that ignores `signal`). */
const serving = (body: () => BodyInit) => {
  const inits: (RequestInit | undefined)[] = [];
  const fetchFn = (async (_url: string, init?: RequestInit) => {
    inits.push(init);
    return new Response(body());
  }) as typeof fetch;
  return { fetchFn, inits };
};

const abortAfterFirstChunk = (ctl: AbortController) => (loaded: number) => {
  if (loaded > 0) setTimeout(() => ctl.abort(new DOMException('another model pack was picked', 'AbortError')), 10);
};

describe('aborting a download', () => {
  it('downloadBytes stops a stalled stream at once, cancels it and rejects with the abort reason', async () => {
    const { body, state } = slowStream();
    const { fetchFn, inits } = serving(() => body);
    const ctl = new AbortController();
    const t0 = Date.now();
    const p = downloadBytes(fetchFn, `${BASE}unet.onnx`, 'unet.onnx', FILE_BYTES, abortAfterFirstChunk(ctl), ctl.signal);
    await expect(p).rejects.toMatchObject({ name: 'AbortError', message: 'another model pack was picked' });
    expect(Date.now() - t0).toBeLessThan(5_000); // not the 60 s stall
    expect(state.cancelled).toBe(true);
    expect(inits[0]?.signal).toBe(ctl.signal); // the request itself is abortable too
  });

  it('loadGraphBytes passes the signal down and caches nothing', async () => {
    const { body, state } = slowStream();
    const { fetchFn } = serving(() => body);
    const ctl = new AbortController();
    const puts: string[] = [];
    const cache = {
      match: async () => undefined,
      put: async (k: string) => void puts.push(k),
      delete: async () => true,
      keys: async () => [],
    };
    const g: GraphFile = { file: 'unet.onnx', dtype: 'float32', bytes: FILE_BYTES, sha256: 'a'.repeat(64), inputs: [], outputs: [] };
    const p = loadGraphBytes({ fetchFn, cache }, BASE, g, abortAfterFirstChunk(ctl), ctl.signal);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(state.cancelled).toBe(true);
    expect(puts).toEqual([]);
  });

  it('an already aborted signal fetches nothing', async () => {
    const { fetchFn, inits } = serving(() => new Uint8Array(4));
    const ctl = new AbortController();
    ctl.abort();
    await expect(downloadBytes(fetchFn, `${BASE}unet.onnx`, 'unet.onnx', 4, () => {}, ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
    await expect(loadManifest(fetchFn, BASE, ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(inits).toEqual([]);
  });

  it('a fetch that never answers is abandoned on abort', async () => {
    const fetchFn = (() => new Promise<Response>(() => {})) as typeof fetch;
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 10);
    await expect(downloadBytes(fetchFn, `${BASE}unet.onnx`, 'unet.onnx', 4, () => {}, ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('loadManifest stops a stalled body read and does not call it invalid JSON', async () => {
    const { body, state } = slowStream();
    const { fetchFn, inits } = serving(() => body);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 20);
    await expect(loadManifest(fetchFn, BASE, ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(inits[0]?.signal).toBe(ctl.signal);
    expect(state.pulls).toBeGreaterThan(0);
  });

  it('without an abort the same slow stream still completes byte-exactly', async () => {
    const { body } = slowStream(1, 8);
    const { fetchFn } = serving(() => body);
    const got = await downloadBytes(fetchFn, `${BASE}unet.onnx`, 'unet.onnx', 8 * 1024, () => {});
    expect(got.length).toBe(8 * 1024);
  });
});
