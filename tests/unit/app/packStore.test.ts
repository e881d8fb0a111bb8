// The OPFS pack store with an in-memory file system: a download streams into storage while it is
// hashed (inline here: Node has no Worker), an interrupted one resumes with a Range request (from
// the last checkpoint after a crash) and its stored part is hashed again, servers that ignore or
// garble ranges make it start again, and only a file whose digest matched is marked complete and
// flushed. Plus the records behind the Cached packs list.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GraphFile } from '../../../src/shared/manifest';
import { DownloadError } from '../../../src/worker/storage/download';
import { loadGraphFromStore, startGraphFromStore, type LoadClock } from '../../../src/worker/storage/graphFromStore';
import { HashPool } from '../../../src/worker/storage/hasher';
import { PackStore, STORE_DIR } from '../../../src/worker/storage/packStore';
import { localLocks } from '../../../src/worker/storage/storeLocks';
import { fakeManifest } from './fakes';
import { FakeDir, serveFile, type ServeOptions } from './fakeOpfs';

const BASE = 'https://app.test/models/p/';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const body = new Uint8Array(randomBytes(50_000));
const graph = (b: Uint8Array = body, file = 'unet.onnx'): GraphFile => ({ file, dtype: 'float32', bytes: b.length, sha256: sha(b), inputs: [], outputs: [] });
const CHECKPOINT = 10_000;

async function setup() {
  const root = new FakeDir();
  const store = await PackStore.open(root, CHECKPOINT);
  return { root, store };
}

function clock() {
  const t = { fetch: 0, hash: 0, hashThread: 0, store: 0, read: 0 };
  const fn: LoadClock = (phase, ms) => void (t[phase] += ms);
  return { t, fn };
}

/** resumeDelaysMs: none by default, so a cut connection fails the load at once (as after the last resume). */
async function load(store: PackStore, opts: ServeOptions = {}, g = graph(), b = body, resumeDelaysMs: number[] = []) {
  const server = serveFile(b, opts);
  const progress: [number, boolean, number][] = [];
  const p = loadGraphFromStore(store, server.fetchFn, BASE, g, (loaded, _t, fromStore, resumedAt) => progress.push([loaded, fromStore, resumedAt]), clock().fn, undefined, resumeDelaysMs);
  return { p, server, progress };
}

const dataOf = (root: FakeDir, g: GraphFile) => root.file(`${STORE_DIR}/files/${g.sha256}.bin`);
const metaOf = (root: FakeDir, g: GraphFile) => {
  const f = root.file(`${STORE_DIR}/files/${g.sha256}.json`);
  return f ? JSON.parse(new TextDecoder().decode(f.bytes())) : null;
};

// hash-wasm compiles its module once per process (seconds on a loaded machine): not in the first test's time.
beforeAll(async () => {
  const h = new HashPool(null).create();
  h.update(new Uint8Array(1));
  await h.digestHex();
}, 60_000);

describe('loadGraphFromStore', () => {
  it('downloads once (no Range, no HTTP cache), stores while hashing, then reads it back without the network', async () => {
    const { root, store } = await setup();
    const first = await load(store);
    const r = await first.p;
    expect(r).toMatchObject({ fromStore: false, fetchedBytes: body.length, readBytes: 0 });
    expect(r.bytes).toEqual(body);
    expect(first.server.requests).toEqual([{ url: `${BASE}unet.onnx`, range: null, cache: 'no-store' }]);
    expect(dataOf(root, graph())!.bytes()).toEqual(body);
    expect(metaOf(root, graph())).toMatchObject({ complete: true, offset: body.length, hash: null });
    expect(root.stats.flushes).toBe(2); // the data and the complete mark, once each: checkpoints do not flush

    const second = await load(store);
    const r2 = await second.p;
    expect(r2).toMatchObject({ fromStore: true, fetchedBytes: 0, readBytes: body.length });
    expect(r2.bytes).toEqual(body);
    expect(second.server.requests).toEqual([]);
    expect(second.progress.every(([, fromStore]) => fromStore)).toBe(true);
  });

  it('a connection cut half-way keeps what arrived; the next load asks for the rest with Range and the digest is right', async () => {
    const { root, store } = await setup();
    const cut = await load(store, { cutAt: 23_456 });
    await expect(cut.p).rejects.toThrow(/unet\.onnx: download interrupted after 23456 of 50000 bytes .*continues from there/);
    expect(metaOf(root, graph())).toMatchObject({ complete: false, offset: 23_456 });
    expect(await store.storedBytes(graph())).toBe(23_456);

    const resumed = await load(store);
    const r = await resumed.p;
    expect(resumed.server.requests.map((q) => q.range)).toEqual(['bytes=23456-']);
    expect(resumed.server.sentBytes()).toBe(50_000 - 23_456);
    expect(r).toMatchObject({ fromStore: false, fetchedBytes: 50_000 - 23_456, readBytes: 23_456 });
    expect(sha(r.bytes)).toBe(graph().sha256);
    expect(metaOf(root, graph())).toMatchObject({ complete: true });
    // progress: the stored part is read first, then the download continues from it
    expect(resumed.progress[0]).toEqual([expect.any(Number), true, 0]);
    expect(resumed.progress.filter(([, s]) => !s)[0]).toEqual([23_456, false, 23_456]);
  });

  it('a dropped connection is resumed in the same load with Range, after a pause, until the retries run out', async () => {
    const { root, store } = await setup();
    // Dropped twice at 23456 bytes (the resume asks for 23456- and drops at once), then it holds.
    const twice = await load(store, { cutAt: 23_456, cutTimes: 2 }, graph(), body, [0, 0, 0]);
    const r = await twice.p;
    expect(twice.server.requests.map((q) => q.range)).toEqual([null, 'bytes=23456-', 'bytes=23456-']);
    expect(r).toMatchObject({ fromStore: false, fetchedBytes: 50_000, readBytes: 0 });
    expect(sha(r.bytes)).toBe(graph().sha256);
    expect(metaOf(root, graph())).toMatchObject({ complete: true });
    expect(twice.progress.at(-1)).toEqual([50_000, false, 23_456]); // progress says where it resumed

    // Dropped more often than there are retries: the load fails, and what arrived is kept for the next one.
    const { root: root2, store: store2 } = await setup();
    const always = await load(store2, { cutAt: 23_456 }, graph(), body, [0, 0]);
    await expect(always.p).rejects.toThrow(/download interrupted after 23456 of 50000 bytes/);
    expect(always.server.requests).toHaveLength(3);
    expect(metaOf(root2, graph())).toMatchObject({ complete: false, offset: 23_456 });
  });

  it('an abort during the pause before a resume ends the load at once', async () => {
    const { store } = await setup();
    const server = serveFile(body, { cutAt: 5_000 });
    const ctrl = new AbortController();
    const p = loadGraphFromStore(store, server.fetchFn, BASE, graph(), () => {}, clock().fn, ctrl.signal, [60_000]);
    await vi.waitFor(() => expect(server.requests).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    ctrl.abort(new Error('another pack was picked'));
    await expect(p).rejects.toThrow('another pack was picked');
    expect(server.requests).toHaveLength(1);
  });

  it('a tab killed mid-download resumes from the last checkpoint (bytes after it are dropped, not trusted)', async () => {
    const { root, store } = await setup();
    const g = graph();
    const f = await store.openFile(g, clock().fn);
    await f.append(body.subarray(0, 12_000)); // one checkpoint at 12000
    await f.append(body.subarray(12_000, 15_000)); // written, never checkpointed
    f.close(); // the tab dies: no checkpoint, no finish
    expect(dataOf(root, g)!.size).toBe(15_000);
    expect(metaOf(root, g)).toMatchObject({ offset: 12_000 });

    const resumed = await load(store);
    const r = await resumed.p;
    expect(resumed.server.requests.map((q) => q.range)).toEqual(['bytes=12000-']);
    expect(r.bytes).toEqual(body);
  });

  it('restarts from zero when the server ignores Range (200) and still ends with the right bytes', async () => {
    const { store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    const again = await load(store, { ignoreRange: true });
    const r = await again.p;
    expect(again.server.requests.map((q) => q.range)).toEqual(['bytes=20000-']);
    expect(r).toMatchObject({ fetchedBytes: 50_000 });
    expect(r.bytes).toEqual(body);
    expect(again.progress.filter(([, s]) => !s)[0]).toEqual([0, false, 20_000]);
  });

  it.each([
    ['a range that starts elsewhere', { wrongStart: 100 }],
    ['416 Range Not Satisfiable', { rangeNotSatisfiable: true }],
  ] as [string, ServeOptions][])('asks again for the whole file after %s', async (_what, opts) => {
    const { store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    const again = await load(store, opts);
    const r = await again.p;
    expect(again.server.requests.map((q) => q.range)).toEqual(['bytes=20000-', null]);
    expect(r.bytes).toEqual(body);
  });

  it('a Content-Range total other than the manifest size is refused and the partial dropped', async () => {
    const { root, store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    await expect((await load(store, { claimTotal: 60_000 })).p).rejects.toThrow(/server says the file has 60000 bytes but the manifest says 50000/);
    expect(dataOf(root, graph())).toBeUndefined();
    expect(await store.storedBytes(graph())).toBe(0);
  });

  it('the stored part of a resumed file is hashed again: bytes changed on disk are caught, not handed on', async () => {
    const { root, store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    dataOf(root, graph())!.data[123] ^= 0x01; // one bit of the stored part flipped
    await expect((await load(store)).p).rejects.toThrow(/unet\.onnx: sha256 mismatch/);
    expect(dataOf(root, graph())).toBeUndefined();
    expect((await (await load(store)).p).bytes).toEqual(body);
  });

  it('a sidecar of an earlier version (with a saved hash state) still resumes from its offset', async () => {
    const { root, store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    const meta = root.file(`${STORE_DIR}/files/${graph().sha256}.json`)!;
    meta.data = new TextEncoder().encode(JSON.stringify({ ...metaOf(root, graph()), hash: { h: [1, 2, 3, 4, 5, 6, 7, 8], length: 20_000, tail: '' } }));
    meta.size = meta.data.length;
    const resumed = await load(store);
    expect((await resumed.p).bytes).toEqual(body);
    expect(resumed.server.requests.map((q) => q.range)).toEqual(['bytes=20000-']);
  });

  it('a resumed file whose digest does not match is deleted, and the next load starts from zero', async () => {
    const { root, store } = await setup();
    const evil = body.slice();
    evil[40_000] ^= 0xff; // the rest of the file differs from what the manifest pins
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    await expect((await load(store, {}, graph(), evil)).p).rejects.toThrow(/unet\.onnx: sha256 mismatch/);
    expect(dataOf(root, graph())).toBeUndefined();
    const fresh = await load(store);
    expect((await fresh.p).bytes).toEqual(body);
    expect(fresh.server.requests.map((q) => q.range)).toEqual([null]);
  });

  it('a longer file is refused and its partial dropped; a short one is kept for resuming', async () => {
    const { root, store } = await setup();
    const longer = new Uint8Array(60_000);
    longer.set(body);
    await expect((await load(store, {}, graph(), longer)).p).rejects.toThrow(/got at least \d+ bytes but the manifest says 50000/);
    expect(dataOf(root, graph())).toBeUndefined();
    await expect((await load(store, {}, graph(), body.slice(0, 30_000))).p).rejects.toThrow(/got 30000 bytes but the manifest says 50000 .*continues from byte 30000/);
    expect(await store.storedBytes(graph())).toBe(30_000);
  });

  it('a damaged sidecar means starting again from zero, never trusting the bytes', async () => {
    const { root, store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    const meta = root.file(`${STORE_DIR}/files/${graph().sha256}.json`)!;
    meta.data = new TextEncoder().encode('{"v":1,"sha256":'); // torn write
    meta.size = meta.data.length;
    expect(await store.storedBytes(graph())).toBe(0);
    const again = await load(store);
    expect((await again.p).bytes).toEqual(body);
    expect(again.server.requests.map((q) => q.range)).toEqual([null]);
  });

  it('a complete mark with a wrong-sized file is not trusted', async () => {
    const { root, store } = await setup();
    await (await load(store)).p;
    const data = dataOf(root, graph())!;
    data.size = 100; // the data lost its tail
    const again = await load(store);
    expect((await again.p).bytes).toEqual(body);
    expect(again.server.requests.map((q) => q.range)).toEqual([null]);
  });

  it('storage full: a clear message, and what was written stays for later', async () => {
    const root = new FakeDir({ written: 0, read: 0, flushes: 0, spaceLeft: 30_000 });
    const store = await PackStore.open(root, CHECKPOINT);
    await expect((await load(store)).p).rejects.toThrow(/unet\.onnx: the browser refused to store more of it after .* \(storage quota exceeded\)/);
  });

  it('an abort checkpoints the exact offset', async () => {
    const { root, store } = await setup();
    const server = serveFile(body, { chunk: 5000 });
    const ctl = new AbortController();
    const p = loadGraphFromStore(store, server.fetchFn, BASE, graph(), (loaded) => {
      if (loaded >= 15_000) ctl.abort(new DOMException('another model pack was picked', 'AbortError'));
    }, clock().fn, ctl.signal);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(metaOf(root, graph())).toMatchObject({ complete: false, offset: 15_000 });
    expect(dataOf(root, graph())!.locked).toBe(false);
  });

  it('the load profile clock sees fetch, hash, store and read time', async () => {
    const { store } = await setup();
    const c = clock();
    await loadGraphFromStore(store, serveFile(body).fetchFn, BASE, graph(), () => {}, c.fn);
    await loadGraphFromStore(store, serveFile(body).fetchFn, BASE, graph(), () => {}, c.fn);
    for (const k of ['fetch', 'hash', 'hashThread', 'store', 'read'] as const) expect(c.t[k], k).toBeGreaterThan(0);
  });
});

describe('with shared memory (a cross-origin isolated worker): the hasher reads the buffer in place', () => {
  const g = globalThis as { crossOriginIsolated?: boolean };
  beforeAll(() => void (g.crossOriginIsolated = true));
  afterAll(() => void delete g.crossOriginIsolated);

  it('downloads into a SharedArrayBuffer, resumes, and the digest is right', async () => {
    const { root, store } = await setup();
    await expect((await load(store, { cutAt: 23_456 })).p).rejects.toThrow(DownloadError);
    const resumed = await load(store);
    const r = await resumed.p;
    expect(r.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(r.bytes).toEqual(body);
    expect(resumed.server.requests.map((q) => q.range)).toEqual(['bytes=23456-']);
    expect(metaOf(root, graph())).toMatchObject({ complete: true });
    dataOf(root, graph())!.data[5] ^= 0x10; // complete: later visits trust the mark and read a plain buffer
    const again = await (await load(store)).p;
    expect(again.bytes.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('hands the bytes out before the digest is in; `verified` rejects a wrong file and deletes it', async () => {
    const { root, store } = await setup();
    await expect((await load(store, { cutAt: 20_000 })).p).rejects.toThrow(DownloadError);
    dataOf(root, graph())!.data[123] ^= 0x01; // the stored part changed on disk
    const started = await startGraphFromStore(store, serveFile(body).fetchFn, BASE, graph(), () => {}, clock().fn, undefined, []);
    expect(started.bytes.length).toBe(body.length);
    expect(metaOf(root, graph())?.complete).toBe(false); // not marked before the digest
    await expect(started.verified).rejects.toThrow(/unet\.onnx: sha256 mismatch/);
    expect(dataOf(root, graph())).toBeUndefined();
    const fresh = await startGraphFromStore(store, serveFile(body).fetchFn, BASE, graph(), () => {}, clock().fn, undefined, []);
    await fresh.verified;
    expect(metaOf(root, graph())).toMatchObject({ complete: true });
    expect(dataOf(root, graph())!.locked).toBe(false); // closed once verified
  });
});

describe('PackStore records', () => {
  const unet = graph(body, 'unet.onnx');
  const gradBytes = new Uint8Array(randomBytes(7000));
  const grad = graph(gradBytes, 'classifier_grad.onnx');
  const manifest = fakeManifest({ name: 'p', title: 'Pack P', unet, classifierGrad: grad });

  it('lists stored packs with their size, partial or complete, and deletes them', async () => {
    const { root, store } = await setup();
    await store.putRecord(BASE, manifest, [unet, grad]);
    await (await load(store, {}, unet)).p;
    await expect((await load(store, { cutAt: 3000 }, grad, gradBytes)).p).rejects.toThrow();
    let list = await store.list();
    expect(list).toEqual([
      { key: PackStore.key(BASE), packUrl: BASE, name: 'p', title: 'Pack P', bytes: 53_000, totalBytes: 57_000, complete: false },
    ]);
    await (await load(store, {}, grad, gradBytes)).p;
    list = await store.list();
    expect(list[0]).toMatchObject({ bytes: 57_000, complete: true });
    expect((await store.getRecord(BASE))?.manifest).toEqual(manifest);

    await store.deletePack(list[0].key);
    expect(await store.list()).toEqual([]);
    expect(root.names(`${STORE_DIR}/files`)).toEqual([]);
    await expect(store.deletePack(list[0].key)).rejects.toThrow(/no such stored pack/);
  });

  it('keeps files another stored pack uses, and refuses to delete a pack whose file is open', async () => {
    const { root, store } = await setup();
    const other = 'https://app.test/models/q/';
    await store.putRecord(BASE, manifest, [unet]);
    await store.putRecord(other, fakeManifest({ name: 'q', title: 'Pack Q', unet }), [unet]);
    await (await load(store, {}, unet)).p;
    await store.deletePack(PackStore.key(BASE));
    expect(root.names(`${STORE_DIR}/files`)).toEqual([`${unet.sha256}.bin`, `${unet.sha256}.json`]);

    const f = await store.openFile(unet, clock().fn);
    await expect(store.deletePack(PackStore.key(other))).rejects.toThrow(/Pack Q is being loaded right now/);
    f.close();
    await store.deletePack(PackStore.key(other));
    expect(root.names(`${STORE_DIR}/files`)).toEqual([]);
  });

  it('keeps the external-data files a stored manifest names', async () => {
    const { root, store } = await setup();
    const dataBytes = new Uint8Array(randomBytes(3000));
    const data = { file: 'unet.onnx.data', bytes: dataBytes.length, sha256: sha(dataBytes) };
    const withData = fakeManifest({ name: 'p', title: 'Pack P', unet: { ...unet, externalData: [data] } });
    await store.putRecord(BASE, withData, [unet, data]);
    await (await load(store, {}, unet)).p;
    await (await load(store, {}, graph(dataBytes, data.file), dataBytes)).p;
    await store.putRecord(BASE, withData, [unet, data]); // a later visit: nothing is collected
    expect(root.names(`${STORE_DIR}/files`)).toHaveLength(4);
    expect((await store.list())[0]).toMatchObject({ bytes: 53_000, totalBytes: 53_000, complete: true });
  });

  it('a new export of a pack drops the files of the old one', async () => {
    const { root, store } = await setup();
    await store.putRecord(BASE, manifest, [unet]);
    await (await load(store, {}, unet)).p;
    const body2 = new Uint8Array(randomBytes(1000));
    const unet2 = graph(body2);
    await store.putRecord(BASE, fakeManifest({ name: 'p', title: 'Pack P', unet: unet2 }), [unet2]);
    expect(root.names(`${STORE_DIR}/files`)).toEqual([]);
    expect((await store.getRecord(BASE))?.files.map((f) => f.sha256)).toEqual([unet2.sha256]);
  });

  it('without a shared lock manager (the previous page\'s worker on reload), the second opener retries, then gives up with a message', async () => {
    const root = new FakeDir();
    const tabA = await PackStore.open(root, CHECKPOINT, localLocks());
    const tabB = await PackStore.open(root, CHECKPOINT, localLocks());
    await expect(tabA.openFile(unet, clock().fn).then((f) => f.close())).resolves.toBeUndefined();
    const held = await tabA.openFile(unet, clock().fn);
    await expect(tabA.openFile(unet, clock().fn)).rejects.toThrow(/already open in this tab/);
    setTimeout(() => held.close(), 150); // e.g. the previous page's worker going away on reload
    const f = await tabB.openFile(unet, clock().fn);
    f.close();

    vi.useFakeTimers();
    try {
      const again = await tabA.openFile(unet, clock().fn);
      const waiting = tabB.openFile(unet, clock().fn);
      const check = expect(waiting).rejects.toThrow(/unet\.onnx is open in another tab of this app/);
      await vi.advanceTimersByTimeAsync(5000);
      await check;
      again.close();
    } finally {
      vi.useRealTimers();
    }
  });

  /** Two tabs of one origin: one store each on the same OPFS and the same lock manager (navigator.locks). */
  async function twoTabs() {
    const root = new FakeDir();
    const locks = localLocks();
    return { root, tabA: await PackStore.open(root, CHECKPOINT, locks), tabB: await PackStore.open(root, CHECKPOINT, locks) };
  }

  it('two tabs: the second waits (and says so) while the first stores a file, then reads the completed copy without downloading', async () => {
    const { tabA, tabB } = await twoTabs();
    await tabA.putRecord(BASE, manifest, [unet]);
    const a = await tabA.openFile(unet, clock().fn); // tab A is downloading unet.onnx
    await a.append(body.subarray(0, 20_000));
    const waited: string[] = [];
    tabB.onWaitForOtherTab = (file) => waited.push(file);
    let bDone = false;
    let b: Awaited<ReturnType<typeof load>>;
    vi.useFakeTimers();
    try {
      b = await load(tabB, {}, unet);
      void b.p.then(() => (bDone = true), () => (bDone = true));
      await vi.advanceTimersByTimeAsync(60_000); // a long download in tab A
    } finally {
      vi.useRealTimers();
    }
    expect(waited).toEqual(['unet.onnx']);
    expect(bDone).toBe(false); // still waiting: no "open in another tab" failure after a few seconds
    await a.append(body.subarray(20_000));
    expect(await a.finish(unet.sha256)).toBe(true);
    a.close();
    const got = await b.p;
    expect(got).toMatchObject({ fromStore: true, fetchedBytes: 0, readBytes: body.length });
    expect(sha(got.bytes)).toBe(unet.sha256);
    expect(b.server.requests).toEqual([]);
  });

  it('two tabs: picking another pack while waiting for the other tab ends the wait at once', async () => {
    const { tabA, tabB } = await twoTabs();
    const a = await tabA.openFile(unet, clock().fn);
    const ctrl = new AbortController();
    const server = serveFile(body);
    const p = loadGraphFromStore(tabB, server.fetchFn, BASE, unet, () => {}, clock().fn, ctrl.signal, []);
    await new Promise((r) => setTimeout(r, 50));
    ctrl.abort(new DOMException('another model pack was picked', 'AbortError'));
    await expect(p).rejects.toThrow('another model pack was picked');
    a.close();
    const again = await tabB.openFile(unet, clock().fn); // nothing left locked by the abandoned wait
    again.close();
  });

  it('two tabs: deleting a pack the other tab is loading is refused, so that tab ends Ready with its pack stored', async () => {
    const { root, tabA, tabB } = await twoTabs();
    // Tab B loads the pack: it holds it for the whole load, stores unet.onnx, then the classifier.
    const release = await tabB.holdForLoad(BASE);
    await tabB.putRecord(BASE, manifest, [unet, grad]);
    await (await load(tabB, {}, unet)).p;
    // Tab A's Delete in between: refused with a message (before the fix it removed the record and unet.onnx).
    await expect(tabA.deletePack(PackStore.key(BASE))).rejects.toThrow(/Pack P is being loaded in a tab of this app; delete it once that load has finished/);
    await (await load(tabB, {}, grad, gradBytes)).p;
    release();
    expect(await tabA.list()).toEqual([expect.objectContaining({ title: 'Pack P', bytes: 57_000, totalBytes: 57_000, complete: true })]);
    expect(root.names(`${STORE_DIR}/files`)).toHaveLength(4);
    // Once the load is over the delete goes through, in either tab.
    await tabA.deletePack(PackStore.key(BASE));
    expect(await tabB.list()).toEqual([]);
    expect(root.names(`${STORE_DIR}/files`)).toEqual([]);
  });
});
