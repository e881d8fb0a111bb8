// The production server's security headers (vite.config.ts, `npm start`), its answers to Range
// requests, and the app working under its Content-Security-Policy: a full generation on the tiny pack
// with no CSP violation.
import { readFileSync } from 'node:fs';
import { expect, generate, samplePixels, test, waitReady } from './fixtures';

test('pages, packs and models carry the security headers; .onnx is typed; missing files are 404', async ({ page }) => {
  const must = {
    'content-security-policy': /script-src 'self' 'wasm-unsafe-eval'.*frame-ancestors 'none'/,
    'x-content-type-options': /^nosniff$/,
    'cross-origin-opener-policy': /^same-origin$/,
    'cross-origin-embedder-policy': /^require-corp$/,
  };
  for (const path of ['./', './models/index.json', './models/tiny16/manifest.json', './models/tiny16/unet.onnx', './models/nope.onnx']) {
    const res = await page.request.get(path);
    const headers = res.headers();
    for (const [k, v] of Object.entries(must)) expect(headers[k], `${path} ${k}`).toMatch(v);
    if (path.endsWith('unet.onnx')) expect(headers['content-type']).toBe('application/octet-stream');
    expect(res.status(), path).toBe(path.includes('nope') ? 404 : 200);
  }
  expect(headers(await page.request.get('./'))['content-security-policy']).not.toContain('unsafe-inline');
});

const headers = (res: { headers(): Record<string, string> }) => res.headers();

test('Range requests: a suffix is the last bytes, an unsatisfiable range is 416, several ranges get the whole file', async ({ page }) => {
  const file = readFileSync('public/models/tiny16/manifest.json');
  const n = file.length;
  const get = (range: string) => page.request.get('./models/tiny16/manifest.json', { headers: { Range: range } });
  const cases: [string, number, string | undefined, Buffer][] = [
    ['bytes=-10', 206, `bytes ${n - 10}-${n - 1}/${n}`, file.subarray(n - 10)],
    ['bytes=0-0', 206, `bytes 0-0/${n}`, file.subarray(0, 1)],
    ['bytes=10-', 206, `bytes 10-${n - 1}/${n}`, file.subarray(10)],
    ['bytes=10-5', 416, `bytes */${n}`, Buffer.alloc(0)],
    [`bytes=${n}-`, 416, `bytes */${n}`, Buffer.alloc(0)],
    ['bytes=-0', 416, `bytes */${n}`, Buffer.alloc(0)],
    ['bytes=0-1,5-6', 200, undefined, file],
    ['items=0-5', 200, undefined, file],
  ];
  for (const [range, code, contentRange, body] of cases) {
    const res = await get(range);
    expect(res.status(), range).toBe(code);
    expect(res.headers()['content-range'], range).toBe(contentRange);
    expect(await res.body(), range).toEqual(body);
    expect(res.headers()['content-security-policy'], range).toContain("frame-ancestors 'none'");
  }
});

test('a full generation runs under the CSP without a single violation', async ({ page }) => {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const w = window as unknown as { __cspViolations?: string[] };
      (w.__cspViolations ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const response = await page.goto('./?pack=tiny16&ep=wasm&steps=5&seed=3');
  expect(response?.headers()['content-security-policy']).toContain("'wasm-unsafe-eval'");
  await waitReady(page);
  await generate(page, /Done .*step 5 \/ 5/);
  expect((await samplePixels(page)).distinct).toBeGreaterThan(1);
  const violations = await page.evaluate(() => (window as unknown as { __cspViolations?: string[] }).__cspViolations ?? []);
  expect(violations).toEqual([]);
  expect(problems).toEqual([]);
});
