// A second visit without network: the manifest and models/index.json fall back to the copies kept
// on the first visit, but only when the request cannot be made at all (a server that answers is
// believed), and the stored manifest is validated like a fetched one.
import { describe, expect, it } from 'vitest';
import { loadManifestOrStored } from '../../../src/worker/storage/manifestLoader';
import { fetchIndexJson, type IndexSource } from '../../../src/ui/indexCopy';
import { fakeManifest } from './fakes';

const BASE = 'https://app.test/models/p/';
const offline = (async () => {
  throw new TypeError('Failed to fetch');
}) as typeof fetch;
const serve = (res: () => Response) => (async () => res()) as typeof fetch;

describe('loadManifestOrStored', () => {
  it('uses the network when it answers, without reading storage', async () => {
    let read = 0;
    const m = fakeManifest();
    const r = await loadManifestOrStored(serve(() => Response.json(m)), BASE, async () => (read++, null));
    expect(r).toEqual({ manifest: m, from: 'network' });
    expect(read).toBe(0);
  });

  it('offline: the stored copy, validated', async () => {
    const m = fakeManifest();
    expect(await loadManifestOrStored(offline, BASE, async () => JSON.parse(JSON.stringify(m)))).toEqual({ manifest: m, from: 'storage' });
  });

  it('offline and never stored: says the first load needs the network', async () => {
    await expect(loadManifestOrStored(offline, BASE, async () => null)).rejects.toThrow(
      'could not fetch manifest.json (Failed to fetch); this pack is not stored in this browser, so its first load needs the network',
    );
  });

  it('offline with a stored copy that no longer validates: refused with the reason', async () => {
    await expect(loadManifestOrStored(offline, BASE, async () => ({ ...fakeManifest(), schemaVersion: 9 }))).rejects.toThrow(
      /could not fetch manifest\.json \(Failed to fetch\), and the stored copy is invalid: manifest\.schemaVersion must be 1/,
    );
  });

  it('a server that answers 404 is believed, not replaced by the stored copy', async () => {
    const r = loadManifestOrStored(serve(() => new Response('', { status: 404, statusText: 'Not Found' })), BASE, async () => fakeManifest());
    await expect(r).rejects.toThrow('manifest.json: HTTP 404 Not Found');
  });
});

describe('fetchIndexJson', () => {
  function source(fetchFn: typeof fetch) {
    const kept = new Map<string, string>();
    const src: IndexSource = {
      fetchFn,
      openCache: async () => ({
        match: async (url: RequestInfo | URL) => (kept.has(String(url)) ? new Response(kept.get(String(url))) : undefined),
        put: async (url: RequestInfo | URL, res: Response) => void kept.set(String(url), await res.text()),
      }) as unknown as Cache,
    };
    return { src, kept };
  }
  const URL_ = 'https://app.test/models/index.json';
  const index = { packs: [{ id: 'p', path: 'models/p/' }], default: 'p' };

  it('keeps a copy once remembered and serves it when offline', async () => {
    const online = source(serve(() => Response.json(index)));
    const r = await fetchIndexJson(URL_, online.src);
    expect(r).toMatchObject({ json: index, offline: false });
    expect(online.kept.size).toBe(0); // only validated copies are kept (the caller calls remember)
    await r.remember();
    const off = await fetchIndexJson(URL_, { ...online.src, fetchFn: offline });
    expect(off).toMatchObject({ json: index, offline: true });
  });

  it('offline without a copy, and HTTP errors, are errors', async () => {
    await expect(fetchIndexJson(URL_, source(offline).src)).rejects.toThrow('Failed to fetch');
    await expect(fetchIndexJson(URL_, source(serve(() => new Response('', { status: 500 }))).src)).rejects.toThrow('HTTP 500');
  });
});
