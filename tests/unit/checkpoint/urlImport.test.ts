// Checkpoints given by URL (src/worker/import/urlFetch.ts, urlStaging.ts; src/shared/checkpointUrl.ts) against a
// fake fetch: which URLs the page may ask for, the first request's size/resume/error answers (a CORS block told
// from an unreachable server by the no-cors probe), the Range reads that index a real checkpoint before the
// download (the same index as the file gives, a small part of its bytes), the staged download into an in-memory OPFS that resumes after a cut,
// and the room check before it (importJob.ts: quota.ts's rule, in the import's words).
import { openAsBlob } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesSource, indexCheckpoint } from '../../../src/checkpoint';
import { checkpointUrlLines, checkpointUrlProblem, urlFileName } from '../../../src/shared/checkpointUrl';
import { checkDownloadRoom } from '../../../src/worker/import/importJob';
import { openUrl, rangeSource, type UrlHead } from '../../../src/worker/import/urlFetch';
import { Staging, STAGING_DIR } from '../../../src/worker/import/urlStaging';
import { STORE_OVERHEAD_BYTES } from '../../../src/worker/storage/quota';
import { FakeDir } from '../app/fakeOpfs';
import { packFixture } from './packFixture';

const URL_PT = 'https://files.test/diffusion/unet.pt';

interface Host {
  /** Answer ranges (206) ... */
  ranges?: boolean;
  /** ... with a Content-Range the page can read (a CORS server exposes it only when told to). */
  exposeRange?: boolean;
  status?: number;
  contentType?: string;
  /** fetch throws (CORS block or no server); `opaque`: a no-cors request gets an answer. */
  blocked?: 'cors' | 'unreachable';
  /** The body of the first full GET drops after this many bytes. */
  cutOnceAt?: number;
  noLength?: boolean;
}

function host(body: Uint8Array, h: Host = {}) {
  const seen: { method: string; range: string | null; mode?: RequestMode }[] = [];
  let cut = h.cutOnceAt;
  const fetchFn = (async (_url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET';
    const range = new Headers(init.headers).get('Range');
    seen.push({ method, range, mode: init.mode });
    if (h.blocked) {
      if (init.mode === 'no-cors' && h.blocked === 'cors') return { type: 'opaque', status: 0, ok: false } as Response;
      throw new TypeError('Failed to fetch');
    }
    const headers = new Headers({ 'Content-Type': h.contentType ?? 'application/octet-stream', ETag: '"v1"' });
    if (h.status) return new Response('nope', { status: h.status, headers });
    let start = 0;
    let end = body.length - 1;
    let status = 200;
    const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    if (m && h.ranges !== false) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), end) : end;
      status = 206;
      if (h.exposeRange !== false) headers.set('Content-Range', `bytes ${start}-${end}/${body.length}`);
    }
    if (!h.noLength && (status === 200 || method === 'HEAD')) headers.set('Content-Length', String(method === 'HEAD' ? body.length : end - start + 1));
    if (method === 'HEAD') return new Response(null, { status, headers });
    const part = body.slice(start, end + 1);
    const cutAt = cut !== undefined && start === 0 && end === body.length - 1 ? cut : undefined;
    if (cutAt !== undefined) cut = undefined;
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (cutAt !== undefined && at >= cutAt) return c.error(new TypeError('network error'));
        if (at >= part.length) return c.close();
        const next = Math.min(part.length, at + 4096, cutAt ?? Infinity);
        c.enqueue(part.slice(at, next));
        at = next;
      },
    });
    return new Response(stream, { status, headers });
  }) as typeof fetch;
  return { fetchFn, seen };
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

describe('checkpointUrlProblem', () => {
  const page = 'https://app.test/guided/';
  it('allows https: anywhere and http: on this computer; refuses the rest with a reason', () => {
    expect(checkpointUrlProblem('https://openaipublic.blob.core.windows.net/diffusion/jul-2021/64x64_diffusion.pt', page)).toBeNull();
    expect(checkpointUrlProblem('http://127.0.0.1:8000/unet.pt', page)).toBeNull();
    expect(checkpointUrlProblem('http://localhost/unet.pt', page)).toBeNull();
    expect(checkpointUrlProblem('http://files.test/unet.pt', page)).toMatch(/plain http: and this page is https:/);
    expect(checkpointUrlProblem('http://files.test/unet.pt', 'http://127.0.0.1:5173/')).toMatch(/plain http: on another computer/);
    expect(checkpointUrlProblem('file:///home/me/unet.pt', page)).toMatch(/^file: URLs cannot be read/);
    expect(checkpointUrlProblem('unet.pt', page)).toMatch(/is not a URL/);
    expect(checkpointUrlProblem('https://me:secret@files.test/unet.pt', page)).toMatch(/user name or password/);
  });
  it('splits a field into URLs and names each file', () => {
    expect(checkpointUrlLines('  https://a.test/x.pt \n\n https://b.test/y%20z.pt\r\n')).toEqual(['https://a.test/x.pt', 'https://b.test/y%20z.pt']);
    expect(urlFileName('https://b.test/dir/y%20z.pt?sig=1')).toBe('y z.pt');
    expect(urlFileName('https://b.test/')).toBe('b.test');
  });
});

describe('openUrl', () => {
  const body = bytes(10_000);
  it('reads the size from Content-Range, or from HEAD where the range header is not exposed', async () => {
    expect(await openUrl(host(body).fetchFn, URL_PT)).toEqual({ url: URL_PT, name: 'unet.pt', size: 10_000, ranges: true, validator: '"v1"' });
    const hidden = host(body, { exposeRange: false });
    expect((await openUrl(hidden.fetchFn, URL_PT)).size).toBe(10_000);
    expect(hidden.seen.map((s) => s.method)).toEqual(['GET', 'HEAD']);
  });
  it('takes a server without Range support (size from Content-Length, no resume)', async () => {
    expect(await openUrl(host(body, { ranges: false }).fetchFn, URL_PT)).toMatchObject({ size: 10_000, ranges: false });
  });
  it('says what went wrong: CORS, unreachable, 404, 403, a web page, no size', async () => {
    const cors = host(body, { blocked: 'cors' });
    await expect(openUrl(cors.fetchFn, URL_PT)).rejects.toThrow('files.test does not allow this page to read unet.pt (its CORS policy). Download the file and drop it here');
    expect(cors.seen.at(-1)).toMatchObject({ method: 'HEAD', mode: 'no-cors' });
    await expect(openUrl(host(body, { blocked: 'unreachable' }).fetchFn, URL_PT)).rejects.toThrow(
      /could not read unet\.pt from files\.test \(Failed to fetch\): the server is unreachable, or its CORS policy/);
    await expect(openUrl(host(body, { status: 404 }).fetchFn, URL_PT)).rejects.toThrow('files.test has no file at this address (HTTP 404)');
    await expect(openUrl(host(body, { status: 403 }).fetchFn, URL_PT)).rejects.toThrow(/refused to send unet\.pt \(HTTP 403\)/);
    await expect(openUrl(host(body, { status: 500 }).fetchFn, URL_PT)).rejects.toThrow(/answered HTTP 500/);
    await expect(openUrl(host(body, { contentType: 'text/html; charset=utf-8' }).fetchFn, URL_PT)).rejects.toThrow(/is a web page \(text\/html\), not a checkpoint file/);
    await expect(openUrl(host(body, { ranges: false, noLength: true }).fetchFn, URL_PT)).rejects.toThrow(/does not say how large unet\.pt is/);
  });
});

describe('before the download', () => {
  let unet: Uint8Array;
  beforeAll(async () => {
    const { dir } = await packFixture();
    unet = new Uint8Array(await (await openAsBlob(join(dir, 'unet.pt'))).arrayBuffer());
  }, 900_000);

  it('indexes a checkpoint by Range reads of a small part of it, as the whole file would; refuses what is not one', async () => {
    const h = host(unet);
    const head = await openUrl(h.fetchFn, URL_PT);
    const byRange = await indexCheckpoint(rangeSource(h.fetchFn, head), head.name);
    const whole = await indexCheckpoint(bytesSource(unet), 'unet.pt');
    expect(byRange.tensors).toEqual(whole.tensors);
    expect(byRange.tensors.length).toBeGreaterThan(10);
    const asked = h.seen.slice(1).map((s) => /^bytes=(\d+)-(\d+)$/.exec(s.range!)!).reduce((n, m) => n + Number(m[2]) - Number(m[1]) + 1, 0);
    expect(asked).toBe(byRange.bytesRead);
    expect(asked).toBeLessThan(unet.length / 10);
    const page = new TextEncoder().encode('<!doctype html><p>' + 'x'.repeat(4000));
    const p = host(page, { contentType: 'application/octet-stream' });
    await expect(indexCheckpoint(rangeSource(p.fetchFn, await openUrl(p.fetchFn, URL_PT)), 'unet.pt')).rejects.toThrow(/neither a zip archive/);
  });

  it('refuses a Range answer for other bytes than asked', async () => {
    const head: UrlHead = { url: URL_PT, name: 'unet.pt', size: 20_000, ranges: true, validator: null };
    await expect(rangeSource(host(bytes(10_000)).fetchFn, head).read(0, 32)).rejects.toThrow(/has the file changed/);
  });
});

describe('Staging', () => {
  const body = bytes(100_000);
  it('downloads into OPFS, resumes a cut download from the stored part with Range, and is removed after use', async () => {
    const root = new FakeDir();
    const staging = await Staging.open(root);
    const h = host(body, { cutOnceAt: 30_000 });
    const head = await openUrl(h.fetchFn, URL_PT);
    const seen: number[] = [];
    const file = await staging.download(h.fetchFn, head, (loaded) => seen.push(loaded), undefined, [0]);
    expect(file.resumedAt).toBe(0);
    const gets = h.seen.filter((s) => s.method === 'GET').map((s) => s.range);
    expect(gets.slice(1)).toEqual([null, 'bytes=30000-']); // the whole file, cut; then the rest
    expect(await file.source.read(0, body.length)).toEqual(body);
    expect(seen.at(-1)).toBe(body.length);
    file.close();
    expect(root.names(STAGING_DIR)).toHaveLength(2);
    await staging.remove(URL_PT);
    expect(root.names(STAGING_DIR)).toEqual([]);
  });

  it('keeps a part cut for good and continues it on the next try; a changed file starts again', async () => {
    const root = new FakeDir();
    const staging = await Staging.open(root);
    const h = host(body, { cutOnceAt: 40_000 });
    const head = await openUrl(h.fetchFn, URL_PT);
    await expect(staging.download(h.fetchFn, head, () => {}, undefined, [])).rejects.toThrow(/interrupted after 40000/);
    expect(await staging.stagedBytes(head)).toBe(40_000);
    expect(await staging.stagedBytes({ ...head, validator: '"v2"' })).toBe(0);
    expect(await staging.stagedBytes({ ...head, validator: null })).toBe(0); // download() would start again too
    await staging.removeOthers([URL_PT]); // this URL's part stays
    const again = await staging.download(h.fetchFn, head, () => {}, undefined, []);
    expect(again.resumedAt).toBe(40_000);
    expect(h.seen.at(-1)!.range).toBe('bytes=40000-');
    expect(await again.source.read(39_990, 20)).toEqual(body.subarray(39_990, 40_010));
    again.close();
    const changed = await staging.download(h.fetchFn, { ...head, validator: '"v2"' }, () => {}, undefined, []);
    expect(changed.resumedAt).toBe(0);
    changed.close();
    await staging.removeOthers(['https://files.test/other.pt']);
    expect(root.names(STAGING_DIR)).toEqual([]);
  });
});

describe('room for the download', () => {
  const MB = 1e6;
  const head = (size: number): UrlHead => ({ url: URL_PT, name: 'unet.pt', size, ranges: true, validator: null });
  const staged = (n: number) => ({ stagedBytes: async () => n });
  const estimate = (quota: number, usage: number) => async () => ({ quota, usage, persisted: null });

  it('refuses, in the import\'s words, what the pack load\'s rule would not fit (the staged part already counted)', async () => {
    await expect(checkDownloadRoom(staged(100 * MB), [head(600 * MB)], estimate(1000 * MB, 600 * MB))).rejects.toThrow(
      'the download needs 500 MB of storage and the browser allows this page 400 MB more; ' +
        'delete cached packs or free disk space, or download the files and open them with Checkpoint files',
    );
    // Exactly the free space is not enough: the store keeps room for its small files (STORE_OVERHEAD_BYTES).
    await expect(checkDownloadRoom(staged(0), [head(400 * MB)], estimate(1000 * MB, 600 * MB))).rejects.toThrow(/the download needs/);
    await expect(checkDownloadRoom(staged(0), [head(400 * MB - STORE_OVERHEAD_BYTES)], estimate(1000 * MB, 600 * MB))).resolves.toBeUndefined();
  });

  it('lets the download go where the browser gives no numbers', async () => {
    await expect(checkDownloadRoom(staged(0), [head(600 * MB)], async () => null)).resolves.toBeUndefined();
    await expect(checkDownloadRoom(staged(0), [head(600 * MB)], async () => ({ quota: null, usage: null, persisted: null }))).resolves.toBeUndefined();
  });
});
