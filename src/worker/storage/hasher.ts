// Hashing a file while it downloads without holding the download up: the hashing thread
// (./hashWorker.ts) reads the file's buffer itself where that is shared memory (a cross-origin
// isolated page: SharedArrayBuffer), told how far it is filled; otherwise chunks go to it in
// batches, their buffers transferred rather than copied where the caller owns them. Either way the
// caller goes on fetching and storing. Where no worker can be started (Node, or the worker failed)
// the same jobs run inline on this thread, one after the other.
import { HashJobs, type HashReply, type HashRequest } from './hashJobs';

/** Chunks are posted to the hashing thread in batches of about this many bytes. */
const BATCH_BYTES = 4 << 20;
/** At most about this many bytes wait to be hashed: `room()` waits beyond it, so memory stays bounded. */
const MAX_QUEUED_BYTES = 64 << 20;

export interface FileHasher {
  /**
   * Hashes `chunk` after everything given before. `owned`: the caller never touches the chunk
   * again, so its buffer may be handed to the hashing thread (it is detached then).
   */
  update(chunk: Uint8Array, owned?: boolean): void;
  /** For a hasher created on a shared buffer: the bytes [0, end) of the file are in it now. */
  advance(end: number): void;
  /** Resolves once the bytes waiting to be hashed are back under the limit (copied chunks only). */
  room(): Promise<void>;
  /** Forgets everything hashed (the download starts again from byte 0). */
  reset(): void;
  /** The hex digest of everything given; the hasher is done afterwards. */
  digestHex(): Promise<string>;
  /** Abandons the job (a failed or aborted download). */
  dispose(): void;
  /** Time the hashing itself took so far, on its own thread. */
  readonly busyMs: number;
}

type Send = (req: HashRequest, transfer: ArrayBuffer[]) => void;

export interface HashLimits {
  /** Chunks are posted in batches of about this many bytes. */
  batchBytes: number;
  /** room() waits while more than this many posted bytes are not hashed yet. */
  maxQueuedBytes: number;
}

/** Whether `b` lives in shared memory, which the hashing thread can read in place. */
export function isShared(b: Uint8Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && b.buffer instanceof SharedArrayBuffer;
}

/** A chunk as something that may be transferred: its own whole buffer, or a copy. */
function transferable(chunk: Uint8Array, owned: boolean): Uint8Array<ArrayBuffer> {
  const whole = chunk.buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
  return owned && whole ? (chunk as Uint8Array<ArrayBuffer>) : chunk.slice();
}

class QueuedHasher implements FileHasher {
  private batch: Uint8Array<ArrayBuffer>[] = [];
  private batchBytes = 0;
  private posted = 0;
  private hashed = 0;
  private roomWaiters: (() => void)[] = [];
  private result: { resolve: (hex: string) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  busyMs = 0;
  /** Shared mode: how far the buffer is filled, and how far the thread was told. */
  private filled = 0;
  private told = 0;
  private readonly shared: boolean;
  private readonly job: number;
  private readonly send: Send;
  private readonly done: () => void;
  private readonly limits: HashLimits;

  constructor(job: number, send: Send, done: () => void, limits: HashLimits, shared: Uint8Array | null) {
    this.job = job;
    this.send = send;
    this.done = done;
    this.limits = limits;
    this.shared = shared !== null;
    if (shared) send({ kind: 'share', job, data: shared }, []);
  }

  advance(end: number): void {
    if (!this.shared) throw new Error('advance() needs a hasher on a shared buffer');
    this.filled = end;
    if (this.filled - this.told >= this.limits.batchBytes) this.tell();
  }

  private tell(): void {
    if (this.filled === this.told) return;
    this.posted += this.filled - this.told;
    this.told = this.filled;
    this.send({ kind: 'advance', job: this.job, end: this.told }, []);
  }

  update(chunk: Uint8Array, owned = false): void {
    if (this.shared) throw new Error('update() on a hasher of a shared buffer: use advance()');
    if (chunk.length === 0) return;
    this.batch.push(transferable(chunk, owned));
    this.batchBytes += chunk.length;
    if (this.batchBytes >= this.limits.batchBytes) this.post();
  }

  private post(): void {
    if (this.batch.length === 0) return;
    const chunks = this.batch;
    this.posted += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.send({ kind: 'update', job: this.job, chunks }, chunks.map((c) => c.buffer));
  }

  room(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    // Shared bytes cost no memory while they wait: the thread may fall behind as far as it likes.
    if (this.shared || this.posted - this.hashed <= this.limits.maxQueuedBytes) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  reset(): void {
    this.batch = [];
    this.batchBytes = 0;
    this.filled = this.told = 0;
    this.send({ kind: 'reset', job: this.job }, []);
  }

  digestHex(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.shared) this.tell();
    else this.post();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.send({ kind: 'digest', job: this.job }, []);
    });
  }

  dispose(): void {
    if (this.result) return; // the digest is on its way; it ends the job
    this.batch = [];
    this.send({ kind: 'drop', job: this.job }, []);
    this.done();
  }

  receive(reply: HashReply): void {
    if (reply.kind === 'hashed') {
      this.hashed += reply.bytes;
      this.busyMs += reply.ms;
      if (this.posted - this.hashed <= this.limits.maxQueuedBytes) for (const w of this.roomWaiters.splice(0)) w();
    } else if (reply.kind === 'digest') {
      this.result?.resolve(reply.hex);
      this.done();
    } else {
      this.fail(new Error(reply.message));
    }
  }

  fail(e: Error): void {
    this.failure = e;
    this.result?.reject(e);
    for (const w of this.roomWaiters.splice(0)) w(); // room() callers see the failure at the digest
    this.done();
  }
}

/** Hands out FileHashers that share one hashing thread (or the inline fallback). */
export class HashPool {
  private worker: Worker | null = null;
  private inline: HashJobs | null = null;
  private inlineQueue = Promise.resolve();
  private readonly open = new Map<number, QueuedHasher>();
  private nextJob = 1;
  private readonly spawn: (() => Worker) | null;
  private readonly limits: HashLimits;

  /** `spawn` starts the hashing thread (null: hash inline, e.g. in Node). */
  constructor(spawn: (() => Worker) | null, limits: HashLimits = { batchBytes: BATCH_BYTES, maxQueuedBytes: MAX_QUEUED_BYTES }) {
    this.spawn = spawn;
    this.limits = limits;
  }

  /** Starts the hashing thread now (its start-up then overlaps whatever comes before the first file). */
  warm(): void {
    this.sender();
  }

  /** A hasher for one file; `shared`: the file's buffer in shared memory (then fed with advance()). */
  create(shared: Uint8Array | null = null): FileHasher {
    const job = this.nextJob++;
    const h = new QueuedHasher(job, this.sender(), () => this.open.delete(job), this.limits, shared);
    this.open.set(job, h);
    return h;
  }

  private sender(): Send {
    if (!this.worker && this.spawn) {
      try {
        const w = this.spawn();
        w.onmessage = (e: MessageEvent<HashReply>) => this.open.get(e.data.job)?.receive(e.data);
        // The thread could not start or crashed: what it held is lost; later files hash inline.
        w.onerror = (e) => this.broken(w, new Error(`the hashing thread failed (${e.message || 'no reason given'})`));
        this.worker = w;
      } catch {
        // no nested workers here: inline
      }
    }
    const w = this.worker;
    if (w) return (req, transfer) => w.postMessage(req, transfer);
    const jobs = (this.inline ??= new HashJobs());
    return (req) => {
      this.inlineQueue = this.inlineQueue.then(async () => {
        const reply = await jobs.handle(req);
        if (reply) this.open.get(reply.job)?.receive(reply);
      });
    };
  }

  private broken(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    w.terminate();
    this.worker = null;
    for (const h of [...this.open.values()]) h.fail(e);
  }
}

/** The pack worker's pool: a module worker beside it, where this realm can start one. */
export function browserHashPool(): HashPool {
  const canSpawn = typeof Worker !== 'undefined';
  return new HashPool(canSpawn ? () => new Worker(new URL('./hashWorker.ts', import.meta.url), { type: 'module', name: 'sha256' }) : null);
}
