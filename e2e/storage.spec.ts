// Pack storage (issue 10): a mid-size pack (the tiny pack's U-Net padded to 30 MB with an unknown
// protobuf field, which ONNX Runtime skips) generated at test time and served by route
// interception with Range support. Stored on the first visit, ready on the second with the pack's
// network cut off; a download cut half-way resumes with a Range request (also when a real server
// closes the socket mid-body); a pack too big for the quota is refused before any model byte is
// fetched; the Cached packs panel lists and deletes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from '@playwright/test';
import { expect, status, test, waitReady } from './fixtures';

const ID = 'storetest';
const TITLE = 'Storage test pack';
const URL_ = `./?pack=${ID}&ep=wasm&steps=2`;
const UNET_BYTES = 30_000_000;

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** The tiny pack with its U-Net padded to `size` bytes: field 1000 of ModelProto, length-delimited. */
function makePack(size: number) {
  const dir = 'public/models/tiny16';
  const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'));
  const base = readFileSync(`${dir}/unet.onnx`);
  const tag = varint((1000 << 3) | 2);
  let padLen = size - base.length - tag.length - 4;
  padLen += 4 - varint(padLen).length; // the length's own varint takes 4 bytes here
  const pad = Buffer.alloc(padLen);
  for (let i = 0; i < padLen; i++) pad[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
  const unet = Buffer.concat([base, tag, varint(padLen), pad]);
  expect(unet.length).toBe(size);
  const grad = readFileSync(`${dir}/classifier_grad.onnx`);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  delete manifest.unetFp16;
  manifest.name = ID;
  manifest.title = TITLE;
  manifest.unet = { ...manifest.unet, bytes: unet.length, sha256: sha(unet) };
  manifest.classifierGrad = { ...manifest.classifierGrad, bytes: grad.length, sha256: sha(grad) };
  return { id: ID, title: TITLE, manifest, files: { [manifest.unet.file as string]: unet, [manifest.classifierGrad.file as string]: grad } as Record<string, Buffer> };
}

interface TestPack {
  id: string;
  title: string;
  manifest: Record<string, unknown>;
  files: Record<string, Buffer>;
}

const PACK = makePack(UNET_BYTES);
const TOTAL = Object.values(PACK.files).reduce((s, b) => s + b.length, 0);

interface Served {
  file: string;
  range: string | undefined;
  status: number;
  bytes: number;
}

/** How a server answers a GET of `body` with `Range: bytes=N-` (206 from N) or without one (200). */
function rangeAnswer(body: Buffer, range: string | undefined): { start: number; status: number; headers: Record<string, string> } {
  const start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (range) headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
  return { start, status: range ? 206 : 200, headers };
}

/** Adds the pack to the deployment's models/index.json as the page receives it. */
async function listPack(page: Page, pack: TestPack): Promise<void> {
  await page.route('**/models/index.json', async (route) => {
    const { range: _r, ...headers } = route.request().headers();
    const index = await (await route.fetch({ headers })).json();
    index.packs.push({ id: pack.id, title: pack.title, path: `models/${pack.id}/` });
    await route.fulfill({ json: index });
  });
}

/**
 * Lists the pack in models/index.json and serves its files with Range support. `cutAt[file]`: that
 * file's next response (or next `times` responses) ends after this many bytes of the file (a dropped connection).
 */
async function servePack(page: Page, cutAt: Record<string, number | { at: number; times: number }> = {}, pack: TestPack = PACK): Promise<Served[]> {
  const log: Served[] = [];
  await listPack(page, pack);
  await page.route(`**/models/${pack.id}/*`, async (route) => {
    const file = new URL(route.request().url()).pathname.split('/').pop()!;
    if (file === 'manifest.json') return route.fulfill({ json: pack.manifest });
    const body = pack.files[file];
    if (!body) return route.fulfill({ status: 404, body: 'not here' });
    const range = route.request().headers()['range'];
    const { start, status, headers } = rangeAnswer(body, range);
    const cut = cutAt[file];
    const end = Math.min(body.length, typeof cut === 'number' ? cut : (cut?.at ?? Infinity));
    if (typeof cut === 'object' && cut.times > 1) cut.times--;
    else delete cutAt[file];
    const part = body.subarray(start, end);
    log.push({ file, range, status, bytes: part.length });
    await route.fulfill({ status, body: part, headers });
  });
  return log;
}

/** The stored files (names) and the digest of one, read from OPFS by the page itself. */
async function opfsFiles(page: Page, sha?: string): Promise<{ names: string[]; sha256: string | null; size: number | null }> {
  return page.evaluate(async (sha) => {
    type Dir = FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
    const root = await navigator.storage.getDirectory();
    let dir: Dir;
    try {
      dir = (await (await root.getDirectoryHandle('guided-diffusion-packs-v1')).getDirectoryHandle('files')) as Dir;
    } catch {
      return { names: [], sha256: null, size: null };
    }
    const names: string[] = [];
    for await (const n of dir.keys()) names.push(n);
    if (!sha) return { names: names.sort(), sha256: null, size: null };
    const file = await (await dir.getFileHandle(`${sha}.bin`)).getFile();
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
    return { names: names.sort(), sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''), size: file.size };
  }, sha);
}

const profile = (page: Page) => page.locator('.load-profile');

test('stored on the first visit, ready on the second with the network cut off; the Cached packs panel lists and deletes', async ({ page }) => {
  const log = await servePack(page);
  const packLines: string[] = [];
  page.on('console', (m) => m.text().startsWith('[pack]') && packLines.push(m.text()));
  await page.goto(URL_);
  await waitReady(page);
  expect(log.map((s) => [s.file, s.range, s.status])).toEqual([
    ['unet.onnx', undefined, 200],
    ['classifier_grad.onnx', undefined, 200],
  ]);
  await expect(profile(page)).toContainText(/Ready in .*: manifest .* \(network\) · fetch .* · hash .* · store .* · read .* · sessions .* · warm-up/);
  console.log(`first visit:  ${await profile(page).textContent()}`);
  expect((await opfsFiles(page, PACK.manifest.unet.sha256)).sha256).toBe(PACK.manifest.unet.sha256);

  // Second visit: every request for the pack folder and the pack list fails as if offline.
  await page.unrouteAll({ behavior: 'wait' });
  const attempts: string[] = [];
  await page.route('**/models/**', (route) => {
    attempts.push(new URL(route.request().url()).pathname.split('/').pop()!);
    return route.abort('internetdisconnected');
  });
  await page.reload();
  await waitReady(page);
  expect(attempts.sort()).toEqual(['index.json', 'manifest.json']); // no model file was even asked for
  await expect(profile(page)).toContainText(/Ready in .*, all from storage: manifest .* \(storage\)/);
  console.log(`second visit: ${await profile(page).textContent()}`);
  console.log(packLines.join('\n'));
  // The stored pack runs.
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2/, { timeout: 120_000 });

  // Cached packs, by keyboard: open the disclosure, the row has the size, Delete removes the files.
  const summary = page.locator('summary', { hasText: 'Cached packs' });
  await expect(summary).toHaveText(`Cached packs (1, ${(TOTAL / 1e6).toFixed(1)} MB)`);
  await summary.focus();
  await page.keyboard.press('Enter');
  const row = page.getByRole('row', { name: new RegExp(TITLE) });
  await expect(row).toContainText(`${(TOTAL / 1e6).toFixed(1)} MB`);
  await expect(row).toContainText('complete');
  await expect(page.getByText(/^Storage is (persistent|not persistent)/)).toBeVisible();
  await expect(page.getByText(/^This site uses .* of the .* the browser allows it\.$/)).toBeVisible();
  await page.keyboard.press('Tab');
  const del = page.getByRole('button', { name: `Delete ${TITLE}` });
  await expect(del).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByText('No packs are stored in this browser.')).toBeVisible();
  await expect(summary).toHaveText('Cached packs (0, 0 B)');
  expect((await opfsFiles(page)).names).toEqual([]);
});

test('a dropped connection resumes in the same load with a Range request, and the stored file has the right hash', async ({ page }) => {
  const CUT = 12_000_000;
  const log = await servePack(page, { 'unet.onnx': CUT });
  await page.goto(URL_);
  await waitReady(page);
  expect(log.map((s) => [s.file, s.range, s.status, s.bytes])).toEqual([
    ['unet.onnx', undefined, 200, CUT],
    ['unet.onnx', `bytes=${CUT}-`, 206, UNET_BYTES - CUT],
    ['classifier_grad.onnx', undefined, 200, PACK.files['classifier_grad.onnx'].length],
  ]);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(await opfsFiles(page, PACK.manifest.unet.sha256)).toMatchObject({ sha256: PACK.manifest.unet.sha256, size: UNET_BYTES });
});

/**
 * A real HTTP server for the pack's model files, where the first response for `dropFile` promises the
 * whole file (Content-Length), sends `dropAfter` bytes and then closes the socket: a dropped
 * connection as the browser sees it (a network error mid-body), not a short but complete response.
 * The page's requests reach it through route.continue with a rewritten URL, so to the page the files
 * still come from its own origin.
 */
async function dropServer(page: Page, dropFile: string, dropAfter: number): Promise<{ log: Served[]; server: Server }> {
  const log: Served[] = [];
  let dropped = false;
  const server = createServer((req, res) => {
    const file = (req.url ?? '').split('/').pop()!;
    const body = PACK.files[file];
    if (!body) return void res.writeHead(404).end();
    const range = req.headers.range;
    const { start, status, headers } = rangeAnswer(body, range);
    const part = body.subarray(start);
    res.writeHead(status, { ...headers, 'Content-Length': String(part.length) });
    if (file === dropFile && !dropped) {
      dropped = true;
      log.push({ file, range, status, bytes: dropAfter });
      res.write(part.subarray(0, dropAfter), () => setTimeout(() => req.socket.destroy(), 200));
      return;
    }
    log.push({ file, range, status, bytes: part.length });
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await listPack(page, PACK);
  await page.route(`**/models/${PACK.id}/*`, async (route) => {
    const file = new URL(route.request().url()).pathname.split('/').pop()!;
    if (file === 'manifest.json') return route.fulfill({ json: PACK.manifest });
    return route.continue({ url: `${origin}/${file}` });
  });
  return { log, server };
}

test('a connection really dropped mid-body (socket closed) resumes from the bytes that arrived', async ({ page }) => {
  const SENT = 10_000_000;
  const { log, server } = await dropServer(page, 'unet.onnx', SENT);
  try {
    await page.goto(URL_);
    await waitReady(page);
    await expect(page.getByRole('alert')).toHaveCount(0);
    expect(log.map((s) => [s.file, s.status])).toEqual([['unet.onnx', 200], ['unet.onnx', 206], ['classifier_grad.onnx', 200]]);
    // The resume starts where the kept bytes end: after some of what was sent, never past it.
    const from = Number(/^bytes=(\d+)-$/.exec(log[1].range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(SENT);
    expect(log[1].bytes).toBe(UNET_BYTES - from);
    console.log(`socket closed after ${SENT} bytes; resumed with bytes=${from}-`);
    expect(await opfsFiles(page, PACK.manifest.unet.sha256)).toMatchObject({ sha256: PACK.manifest.unet.sha256, size: UNET_BYTES });
  } finally {
    server.close();
  }
});

test('a download still cut after the automatic resumes fails with what arrived kept; a reload continues with Range', async ({ page }) => {
  const CUT = 12_000_000;
  // The first request and the three automatic resumes (each asking for bytes=CUT-) all drop.
  const log = await servePack(page, { 'unet.onnx': { at: CUT, times: 4 } });
  await page.goto(URL_);
  await expect(page.getByRole('alert')).toContainText(`unet.onnx: got ${CUT} bytes but the manifest says ${UNET_BYTES}`);
  await expect(page.getByRole('alert')).toContainText(`the next load continues from byte ${CUT}`);
  await page.locator('summary', { hasText: 'Cached packs' }).click();
  await expect(page.getByRole('row', { name: new RegExp(TITLE) })).toContainText(`partial: 12.0 MB of ${(TOTAL / 1e6).toFixed(1)} MB`);

  await page.reload();
  await waitReady(page);
  expect(log.map((s) => [s.file, s.range, s.status, s.bytes])).toEqual([
    ['unet.onnx', undefined, 200, CUT],
    ...Array(3).fill(['unet.onnx', `bytes=${CUT}-`, 206, 0]),
    ['unet.onnx', `bytes=${CUT}-`, 206, UNET_BYTES - CUT],
    ['classifier_grad.onnx', undefined, 200, PACK.files['classifier_grad.onnx'].length],
  ]);
  const stored = await opfsFiles(page, PACK.manifest.unet.sha256);
  expect(stored).toMatchObject({ sha256: PACK.manifest.unet.sha256, size: UNET_BYTES });
  console.log(`resumed load: ${await profile(page).textContent()}`);
});

test('a pack too big for the storage quota is refused before any model byte is fetched', async ({ page }) => {
  // The page measures storage for the worker (estimate() and persist() live on the page).
  await page.addInitScript(() => {
    const usage = 5_000_000;
    const quota = 20_000_000;
    Object.defineProperty(StorageManager.prototype, 'estimate', { value: async () => ({ usage, quota }) });
  });
  const log = await servePack(page);
  await page.goto(URL_);
  await expect(page.getByRole('alert')).toContainText(
    `Not enough storage space for this pack: its model files need ${(TOTAL / 1e6).toFixed(1)} MB more, ` +
      'but the browser lets this site store only 15.0 MB more (quota 20.0 MB, 5.00 MB in use)',
  );
  expect(log).toEqual([]);
  expect((await opfsFiles(page)).names).toEqual([]);
  // A pack that fits (the tiny pack, 2.2 MB) still loads.
  await page.getByRole('combobox', { name: 'Model pack' }).selectOption('tiny16');
  await waitReady(page, 60_000);
});

test('a pack whose U-Net keeps its weights in an ONNX external-data file is stored with it and runs offline', async ({ page }) => {
  // The toolkit's tiny pack written with external data (adm.cli.make_tiny_pack --external-data).
  const dir = mkdtempSync(join(tmpdir(), 'tinyext-'));
  let pack: TestPack;
  try {
    execFileSync('/usr/bin/python3', ['-m', 'adm.cli.make_tiny_pack', '--external-data', '--out', join(dir, 'pack')], { stdio: 'pipe' });
    const files = Object.fromEntries(readdirSync(join(dir, 'pack')).map((f) => [f, readFileSync(join(dir, 'pack', f))]));
    const manifest = JSON.parse(files['manifest.json'].toString());
    delete files['manifest.json'];
    pack = { id: 'tinyext', title: 'Tiny pack with external data', manifest: { ...manifest, name: 'tinyext', title: 'Tiny pack with external data' }, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const unet = pack.manifest.unet as { file: string; externalData: { file: string }[] };
  expect(unet.externalData.map((e) => e.file)).toEqual([`${unet.file}.data`]);
  const log = await servePack(page, {}, pack);
  await page.goto('./?pack=tinyext&ep=wasm&steps=2');
  await waitReady(page);
  expect(log.map((s) => s.file)).toEqual(['unet.onnx', 'unet.onnx.data', 'classifier_grad.onnx']);
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(status(page)).toHaveText(/Done .*step 2 \/ 2/, { timeout: 120_000 });

  await page.unrouteAll({ behavior: 'wait' });
  await page.route('**/models/**', (route) => route.abort('internetdisconnected'));
  await page.reload();
  await waitReady(page);
  await expect(profile(page)).toContainText(/all from storage: manifest .* \(storage\)/);
});

/**
 * Two tabs (two pages of one browser context, so one OPFS and one lock manager): the pack is listed and
 * served to both, and each model file's first response is held back until `release()`: a download in
 * progress in whichever tab asked first.
 */
async function serveHeld(context: BrowserContext): Promise<{ log: Served[]; release: () => void }> {
  const log: Served[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await context.route('**/models/index.json', async (route) => {
    const { range: _r, ...headers } = route.request().headers();
    const index = await (await route.fetch({ headers })).json();
    index.packs.push({ id: PACK.id, title: PACK.title, path: `models/${PACK.id}/` });
    await route.fulfill({ json: index });
  });
  await context.route(`**/models/${PACK.id}/*`, async (route) => {
    const file = new URL(route.request().url()).pathname.split('/').pop()!;
    if (file === 'manifest.json') return route.fulfill({ json: PACK.manifest });
    const body = PACK.files[file];
    const range = route.request().headers()['range'];
    const { start, status, headers } = rangeAnswer(body, range);
    log.push({ file, range, status, bytes: body.length - start });
    await gate;
    await route.fulfill({ status, body: body.subarray(start), headers });
  });
  return { log, release };
}

test('two tabs: the second waits for the file the first is downloading, says so, then reads it from storage', async ({ context }) => {
  const { log, release } = await serveHeld(context);
  const first = await context.newPage();
  await first.goto(URL_);
  await expect.poll(() => log.length).toBe(1); // the first tab is downloading unet.onnx (held)
  const second = await context.newPage();
  await second.goto(URL_);
  await expect(status(second)).toHaveText(/waiting for another tab of this app, which is storing unet\.onnx/, { timeout: 60_000 });
  await second.waitForTimeout(4000); // longer than the old lock retry (3 s): still waiting, no error
  await expect(status(second)).toHaveText(/waiting for another tab/);
  await expect(second.getByRole('alert')).toHaveCount(0);
  release();
  await waitReady(first);
  await waitReady(second);
  // Each file crossed the network once, for the first tab; the second read the completed copies.
  expect(log.map((s) => [s.file, s.status])).toEqual([['unet.onnx', 200], ['classifier_grad.onnx', 200]]);
  await expect(profile(second)).toContainText(/all from storage/);
  await second.getByRole('button', { name: 'Generate' }).click();
  await expect(status(second)).toHaveText(/Done .*step 2 \/ 2/, { timeout: 120_000 });
});

test('two tabs: deleting a pack the other tab is loading is refused, and that tab ends Ready with the pack stored', async ({ context }) => {
  const { release } = await serveHeld(context);
  const loading = await context.newPage();
  await loading.goto(URL_);
  const other = await context.newPage();
  await other.goto('./?pack=tiny16&ep=wasm&steps=2');
  await waitReady(other, 120_000);
  await other.locator('summary', { hasText: 'Cached packs' }).click();
  const row = other.getByRole('row', { name: new RegExp(TITLE) });
  await expect(row).toContainText('partial'); // the first tab's download in progress
  await other.getByRole('button', { name: `Delete ${TITLE}` }).click();
  await expect(other.getByText(`Could not delete the stored pack: ${TITLE} is being loaded in a tab of this app; delete it once that load has finished`)).toBeVisible();
  await expect(row).toBeVisible();
  release();
  await waitReady(loading);
  // The store holds the whole pack: a reload with the pack's network cut off is ready from storage.
  await context.unrouteAll({ behavior: 'wait' });
  await context.route('**/models/**', (route) => route.abort('internetdisconnected'));
  await loading.reload();
  await waitReady(loading);
  await expect(profile(loading)).toContainText(/all from storage/);
  // Once no tab is loading it, the delete goes through.
  await other.locator('summary', { hasText: 'Cached packs' }).click();
  await other.locator('summary', { hasText: 'Cached packs' }).click();
  await expect(row).toContainText('complete');
  await other.getByRole('button', { name: `Delete ${TITLE}` }).click();
  await expect(row).toHaveCount(0);
});
