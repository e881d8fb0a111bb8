// The hashing thread's client (src/worker/storage/hasher.ts) and jobs (hashJobs.ts): digests equal
// node:crypto whatever the chunking, a reset starts over, jobs do not mix; chunks the caller owns
// are transferred (not copied) and others copied; the queue is bounded; a thread that fails rejects
// the digest and later files hash inline.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashJobs, type HashReply, type HashRequest } from '../../../src/worker/storage/hashJobs';
import { HashPool } from '../../../src/worker/storage/hasher';

const nodeSha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Feeds `data` in chunks of random sizes, each a fresh buffer the hasher may take. */
function feed(h: { update(c: Uint8Array, owned?: boolean): void }, data: Uint8Array, seed: number, maxChunk = 70_000) {
  let s = seed;
  for (let at = 0; at < data.length; ) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const n = Math.min(data.length - at, 1 + (s % maxChunk));
    h.update(data.slice(at, at + n), true);
    at += n;
  }
}

/** A Worker stand-in running HashJobs "elsewhere": messages are structured-cloned with their transfer list, handled when `run()` is called. */
class FakeHashWorker {
  onmessage: ((e: MessageEvent<HashReply>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  readonly inbox: HashRequest[] = [];
  terminated = false;
  private readonly jobs = new HashJobs();
  postMessage(msg: HashRequest, transfer: Transferable[] = []) {
    this.inbox.push(structuredClone(msg, { transfer }));
  }
  /** Handles what arrived so far (or only `n` messages). */
  async run(n = Infinity) {
    for (; n > 0 && this.inbox.length > 0; n--) {
      const reply = await this.jobs.handle(this.inbox.shift()!);
      if (reply) this.onmessage?.({ data: reply } as MessageEvent<HashReply>);
    }
  }
  terminate() {
    this.terminated = true;
  }
}

const until = async (p: Promise<unknown>, w: FakeHashWorker) => {
  let done = false;
  void p.finally(() => (done = true)).catch(() => {});
  for (let k = 0; k < 1000 && !done; k++) {
    await w.run();
    await new Promise((r) => setTimeout(r, 0));
  }
  return p;
};

describe('HashPool inline (no worker)', () => {
  it('digests equal node:crypto for any chunking, owned or copied chunks, and interleaved jobs', async () => {
    const pool = new HashPool(null);
    const a = new Uint8Array(randomBytes(1_000_003));
    const b = new Uint8Array(randomBytes(300_001));
    const ha = pool.create();
    const hb = pool.create();
    feed(ha, a.subarray(0, 500_000), 1);
    feed(hb, b, 2);
    ha.update(a.subarray(500_000)); // not owned: copied, and the caller's view stays usable
    expect(a.subarray(500_000).length).toBe(500_003);
    expect(await hb.digestHex()).toBe(nodeSha(b));
    expect(await ha.digestHex()).toBe(nodeSha(a));
    const empty = pool.create();
    expect(await empty.digestHex()).toBe(nodeSha(new Uint8Array(0)));
  });

  it('reset forgets what was hashed', async () => {
    const pool = new HashPool(null);
    const data = new Uint8Array(randomBytes(200_000));
    const h = pool.create();
    feed(h, new Uint8Array(randomBytes(123_456)), 3);
    h.reset();
    feed(h, data, 4);
    expect(await h.digestHex()).toBe(nodeSha(data));
    expect(h.busyMs).toBeGreaterThanOrEqual(0);
  });
});

describe('HashPool with a hashing thread', () => {
  it('transfers owned chunks (their buffers are detached once posted) and copies the others', async () => {
    const w = new FakeHashWorker();
    const pool = new HashPool(() => w as unknown as Worker);
    const h = pool.create();
    const owned = [new Uint8Array(randomBytes(3 << 20)), new Uint8Array(randomBytes(2 << 20))];
    const all = Buffer.concat(owned);
    const shared = new Uint8Array(randomBytes(1 << 20));
    const view = shared.subarray(1000, 5000); // part of a larger buffer: never transferred
    h.update(owned[0], true);
    expect(owned[0].byteLength).toBe(3 << 20); // still batched here
    h.update(owned[1], true); // 5 MiB: the batch goes
    expect(owned.map((c) => c.byteLength)).toEqual([0, 0]);
    const viewCopy = view.slice();
    h.update(view, true);
    view.fill(0); // the caller reuses its buffer: the copy was hashed
    const digest = await until(h.digestHex(), w);
    expect(digest).toBe(nodeSha(Buffer.concat([all, viewCopy])));
    expect(shared.byteLength).toBe(1 << 20);
  });

  it('a shared buffer is read in place: advance() says how far it is filled; reset starts over', async () => {
    const w = new FakeHashWorker();
    const pool = new HashPool(() => w as unknown as Worker, { batchBytes: 1000, maxQueuedBytes: 4000 });
    const data = new Uint8Array(randomBytes(10_000));
    const buf = new Uint8Array(new SharedArrayBuffer(data.length));
    const h = pool.create(buf);
    expect(() => h.update(data)).toThrow(/advance/);
    buf.set(data.subarray(0, 3000));
    h.advance(3000);
    await w.run();
    h.reset(); // the server ignored Range: the same buffer is filled again from byte 0
    for (let at = 0; at < data.length; at += 1500) {
      buf.set(data.subarray(at, at + 1500), at);
      h.advance(Math.min(data.length, at + 1500));
      await h.room(); // never waits: shared bytes cost no memory
    }
    expect(await until(h.digestHex(), w)).toBe(nodeSha(data));
    expect(w.inbox).toEqual([]);
    expect(() => pool.create().advance(1)).toThrow(/shared buffer/);
  });

  it('room() waits while more than the limit is queued, until the thread catches up', async () => {
    const w = new FakeHashWorker();
    const pool = new HashPool(() => w as unknown as Worker, { batchBytes: 1000, maxQueuedBytes: 4000 });
    const h = pool.create();
    const pieces = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(1000)));
    const expected = nodeSha(Buffer.concat(pieces));
    for (const p of pieces.slice(0, 4)) h.update(p.slice(), true); // 4000 queued: still room
    await h.room();
    h.update(pieces[4].slice(), true); // 5000 queued
    let roomy = false;
    const wait = h.room().then(() => (roomy = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(roomy).toBe(false);
    await w.run(1); // the thread hashes one batch
    await wait;
    expect(roomy).toBe(true);
    expect(await until(h.digestHex(), w)).toBe(expected);
  });

  it('a thread that fails rejects the digest with the reason; the next file hashes inline', async () => {
    const w = new FakeHashWorker();
    let spawned = 0;
    const pool = new HashPool(() => {
      spawned++;
      if (spawned > 1) throw new Error('no more workers');
      return w as unknown as Worker;
    });
    const h = pool.create();
    h.update(new Uint8Array(10), true);
    const digest = h.digestHex();
    w.onerror?.({ message: 'out of memory' } as ErrorEvent);
    await expect(digest).rejects.toThrow('the hashing thread failed (out of memory)');
    expect(w.terminated).toBe(true);
    const next = pool.create();
    const data = new Uint8Array(randomBytes(5000));
    next.update(data);
    expect(await next.digestHex()).toBe(nodeSha(data));
  });
});
