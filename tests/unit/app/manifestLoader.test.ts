import { describe, expect, it } from 'vitest';
import { MANIFEST_LIMITS } from '../../../src/shared/manifest';
import { parseManifest } from '../../../src/shared/manifestCheck';
import { loadManifest } from '../../../src/worker/storage/manifestLoader';
import { fakeManifest } from './fakes';

const serve = (res: () => Response) => (async () => res()) as typeof fetch;
const BASE = 'https://app.test/models/p/';

describe('loadManifest', () => {
  it('returns the validated manifest', async () => {
    const m = fakeManifest();
    expect(await loadManifest(serve(() => Response.json(m)), BASE)).toEqual(m);
  });

  it.each([
    ['a missing file', () => new Response('', { status: 404, statusText: 'Not Found' }), 'manifest.json: HTTP 404 Not Found'],
    ['broken JSON', () => new Response('{"schemaVersion": 1,'), 'manifest.json is not valid JSON'],
    ['a wrong schema version', () => Response.json({ ...fakeManifest(), schemaVersion: 2 }), /invalid manifest: manifest.schemaVersion must be 1/],
    ['a bad sha256', () => Response.json({ ...fakeManifest(), unet: { ...fakeManifest().unet, sha256: 'xyz' } }), /manifest.unet.sha256 must be 64 lowercase hex digits/],
  ])('explains %s', async (_what, res, message) => {
    await expect(loadManifest(serve(res), BASE)).rejects.toThrow(message);
  });

  it('explains a network failure', async () => {
    const fail = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    await expect(loadManifest(fail, BASE)).rejects.toThrow('could not fetch manifest.json (Failed to fetch)');
  });

  it('refuses a manifest nested 100k deep before parsing it, in one sentence', async () => {
    const n = 100_000;
    const text = `{"schemaVersion":1,"classCond":true,"labels":${'['.repeat(n)}${']'.repeat(n)}}`;
    await expect(loadManifest(serve(() => new Response(text)), BASE)).rejects.toThrow(/^manifest\.json nests arrays or objects more than 64 deep$/);
    // A value that deep reaching the validator some other way is refused for its size, not a stack overflow.
    let deep: unknown = [];
    for (let i = 0; i < n; i++) deep = [deep];
    expect(() => parseManifest({ ...fakeManifest(), labels: deep })).toThrow(/^manifest holds more than 10000 JSON values/);
  });

  it('refuses an oversized manifest unread: announced by Content-Length, or streamed without one', async () => {
    const max = MANIFEST_LIMITS.maxManifestBytes;
    let pulled = 0;
    const announced = () => new Response('{}', { headers: { 'Content-Length': String(max + 1) } });
    await expect(loadManifest(serve(announced), BASE)).rejects.toThrow(`manifest.json has more than ${max} bytes`);
    const endless = () => new Response(new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += 1 << 20;
        c.enqueue(new Uint8Array(1 << 20).fill(0x20));
      },
    }));
    await expect(loadManifest(serve(endless), BASE)).rejects.toThrow(`manifest.json has more than ${max} bytes`);
    expect(pulled).toBeLessThanOrEqual(max + 2 * (1 << 20)); // stopped right after the limit
  });

  it('says that 1e309 is too large rather than "null"', async () => {
    const m = JSON.stringify(fakeManifest()).replace(/"classifierScale":[^,}]+/, '"classifierScale":1e309');
    expect(m).toContain('1e309');
    await expect(loadManifest(serve(() => new Response(m)), BASE)).rejects.toThrow(
      'invalid manifest: manifest.sampling.classifierScale must be a finite number (got Infinity (the number is too large for a 64-bit float))',
    );
  });
});
