// The dev server's security headers and real 404s (issue 13). `vite preview` (npm start) uses the
// same config and is checked end to end in e2e/security.spec.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byteRange, devHeaders, previewHeaders } from '../../../vite.config';
import { ROOT } from '../cli/run';

let server: ViteDevServer;
let base = '';
const cacheDir = mkdtempSync(join(tmpdir(), 'vite-cache-'));

beforeAll(async () => {
  server = await createServer({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    cacheDir, // never touch the checkout's node_modules/.vite
    logLevel: 'silent',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null, preTransformRequests: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const addr = server.httpServer?.address();
  if (!addr || typeof addr === 'string') throw new Error('dev server has no port');
  base = `http://127.0.0.1:${addr.port}`;
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

const get = (path: string) => fetch(base + path, { headers: { accept: '*/*' } });

describe('security headers in vite.config.ts', () => {
  it('the production CSP is strict: no inline or eval, only wasm compilation', () => {
    const csp = previewHeaders['Content-Security-Policy'];
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(csp).not.toMatch(/unsafe-inline|'unsafe-eval'/);
    // No wildcard source: the only '*' is the port of the loopback http: servers checkpoints may come from.
    expect(csp.replace(/http:\/\/(localhost|127\.0\.0\.1):\*/g, '')).not.toContain('*');
    expect(csp).toContain("connect-src 'self' https: http://localhost:* http://127.0.0.1:*;");
    for (const d of ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) {
      expect(csp).toContain(d);
    }
  });

  it.each(['/', '/models/tiny16/manifest.json', '/models/tiny16/unet.onnx', '/models/nope/manifest.json'])(
    'the dev server sends them on %s',
    async (path) => {
      const res = await get(path);
      for (const [k, v] of Object.entries(devHeaders)) expect(res.headers.get(k), k).toBe(v);
    },
  );

  it('serves .onnx as application/octet-stream', async () => {
    const res = await get('/models/tiny16/unet.onnx');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
  });

  it.each(['/models/nope/manifest.json', '/models/tiny16/missing.onnx', '/no/such/page'])('answers %s with a real 404', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('<div id="root">');
  });

  it('still serves the app page', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<div id="root">');
  });
});

describe('Range requests (vite.config.ts rangeRequests, the dev server and `npm start`)', () => {
  it.each([
    ['bytes=-10', [90, 99]],
    ['bytes=-1000', [0, 99]],
    ['bytes=10-5', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=0-0', [0, 0]],
    ['bytes=5-', [5, 99]],
    ['bytes=5-1000', [5, 99]],
    ['bytes = 2 - 3', [2, 3]],
    ['bytes=0-1,5-6', null],
    ['items=0-5', null],
    ['bytes=abc', null],
    ['bytes=-', null],
  ] as const)('%s of 100 bytes', (header, want) => {
    expect(byteRange(header, 100)).toEqual(want);
  });

  it('an empty file has no satisfiable range', () => {
    expect(byteRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(byteRange('bytes=-1', 0)).toBe('unsatisfiable');
  });

  const ranged = (path: string, range: string) => fetch(base + path, { headers: { accept: '*/*', range } });
  const file = readFileSync(join(ROOT, 'public/models/tiny16/manifest.json'));

  it('the dev server answers a suffix range with the last bytes, and an unsatisfiable one with 416', async () => {
    let res = await ranged('/models/tiny16/manifest.json', 'bytes=-10');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${file.length - 10}-${file.length - 1}/${file.length}`);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(file.subarray(file.length - 10));
    expect(res.headers.get('content-security-policy')).toBe(devHeaders['Content-Security-Policy']);

    res = await ranged('/models/tiny16/manifest.json', 'bytes=10-5');
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${file.length}`);

    res = await ranged('/models/tiny16/manifest.json', 'bytes=0-0');
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(file.subarray(0, 1));

    res = await ranged('/models/tiny16/unet.onnx', 'bytes=7-');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect((await res.arrayBuffer()).byteLength).toBe(readFileSync(join(ROOT, 'public/models/tiny16/unet.onnx')).length - 7);

    res = await ranged('/models/tiny16/manifest.json', 'bytes=0-1,5-6'); // several ranges: the whole file
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(file.length);

    // An escaped ".." (fetch would normalise a plain one away) does not reach a file outside public/.
    res = await ranged('/models/tiny16/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json', 'bytes=0-10');
    expect(await res.text()).not.toContain('"name"');
  });
});
