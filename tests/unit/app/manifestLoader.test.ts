import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/worker/manifestLoader';
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
});
