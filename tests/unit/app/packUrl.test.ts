// Defence in depth for pack file URLs (issue 13): whatever the manifest says, the worker fetches
// only from inside the pack folder on the app's own origin.
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/worker/storage/manifestLoader';
import { loadGraphBytes } from '../../../src/worker/storage/packCache';
import { checkPackUrl, packFileUrl, PackUrlError } from '../../../src/worker/storage/packUrl';
import type { GraphFile } from '../../../src/shared/manifest';

const HTTP = 'http://127.0.0.1:4173/models/p/';
const HTTPS = 'https://app.test/sub/models/p/';

describe('packFileUrl', () => {
  it.each([
    [HTTP, 'unet.onnx', 'http://127.0.0.1:4173/models/p/unet.onnx'],
    [HTTP, 'manifest.json', 'http://127.0.0.1:4173/models/p/manifest.json'],
    [HTTPS, 'classifier_grad.onnx', 'https://app.test/sub/models/p/classifier_grad.onnx'],
  ])('resolves %s + %s inside the folder', (base, file, url) => {
    expect(packFileUrl(base, file)).toBe(url);
  });

  it.each([
    // "https:evil.example" is relative to an https page but absolute (another origin) on http.
    [HTTP, 'https:evil.example'],
    [HTTP, 'https://evil.example/unet.onnx'],
    [HTTPS, 'http:evil.example'],
    [HTTPS, '//evil.example/unet.onnx'],
    [HTTP, 'javascript:alert(1)'],
    [HTTP, 'data:application/octet-stream,AAAA'],
    [HTTP, 'blob:http://127.0.0.1:4173/x'],
    [HTTP, '../other/unet.onnx'],
    [HTTP, '..'],
    [HTTP, '%2e%2e/secret.onnx'],
    [HTTP, '/models/p/unet.onnx/../../x'],
    [HTTP, '/etc/passwd'],
    [HTTP, 'sub/unet.onnx'],
    [HTTP, 'unet.onnx?download=1'],
    [HTTP, 'unet.onnx#x'],
    [HTTP, ''],
    [HTTP, '.'],
    [HTTP, 'http://user:pw@127.0.0.1:4173/models/p/unet.onnx'],
  ])('refuses %s + %j', (base, file) => {
    expect(() => packFileUrl(base, file)).toThrow(PackUrlError);
    expect(() => packFileUrl(base, file)).toThrow(/refused to fetch it: .*outside the pack folder/);
  });

  it('refuses a pack URL that is not a folder', () => {
    expect(() => packFileUrl('http://127.0.0.1:4173/models/p', 'p2.onnx')).toThrow(/must be a plain folder URL/);
    expect(() => packFileUrl('http://127.0.0.1:4173/models/p/?x=1', 'unet.onnx')).toThrow(/must be a plain folder URL/);
  });
});

describe('checkPackUrl', () => {
  const APP = 'http://127.0.0.1:4173/assets/worker-abc.js';
  it('accepts a folder on the app origin', () => {
    expect(checkPackUrl('http://127.0.0.1:4173/models/tiny16/', APP).href).toBe('http://127.0.0.1:4173/models/tiny16/');
  });
  it.each([
    ['https://evil.example/models/p/', /on another site/],
    ['http://127.0.0.1:9999/models/p/', /on another site/],
    ['file:///models/p/', /not http\(s\)/],
    ['http://127.0.0.1:4173/models/p', /plain folder URL/],
    ['http://127.0.0.1:4173/models/p/?q', /plain folder URL/],
    ['not a url', /not a valid URL/],
  ])('refuses %s', (url, message) => {
    expect(() => checkPackUrl(url, APP)).toThrow(message);
  });
});

describe('the loaders fetch nothing outside the pack folder', () => {
  const g = (file: string): GraphFile => ({ file, dtype: 'float32', bytes: 4, sha256: 'a'.repeat(64), inputs: [], outputs: [] });
  const spy = () => {
    const urls: string[] = [];
    return { urls, fetchFn: (async (url: string) => (urls.push(url), new Response(new Uint8Array(4)))) as typeof fetch };
  };

  it('loadGraphBytes refuses before fetching', async () => {
    const { urls, fetchFn } = spy();
    await expect(loadGraphBytes({ fetchFn, cache: null }, HTTP, g('https:evil.example'), () => {})).rejects.toThrow(/refused to fetch it/);
    await expect(loadGraphBytes({ fetchFn, cache: null }, HTTP, g('../x.onnx'), () => {})).rejects.toThrow(/refused to fetch it/);
    expect(urls).toEqual([]);
  });

  it('loadManifest refuses a pack URL that is not a folder', async () => {
    const { urls, fetchFn } = spy();
    await expect(loadManifest(fetchFn, 'http://127.0.0.1:4173/models/p?x')).rejects.toThrow(PackUrlError);
    expect(urls).toEqual([]);
  });
});
