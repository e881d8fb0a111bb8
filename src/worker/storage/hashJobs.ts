// SHA-256 of the model files being downloaded, one job per file: hash-wasm's WebAssembly SHA-256
// (about 3x the TypeScript one in ./sha256.ts) fed chunk by chunk, or told how far a buffer shared
// with the pack worker is filled (no copies). Runs in its own worker
// (./hashWorker.ts) so that hashing overlaps the download and the writes to storage instead of
// alternating with them; the same class runs inline where no worker can be started (./hasher.ts).

import { createSHA256, type IHasher } from 'hash-wasm';

export type HashRequest =
  /** Hash `chunks` after everything this job was given before (a job starts at its first message). */
  | { kind: 'update'; job: number; chunks: Uint8Array[] }
  /** The job's bytes are in `data` (memory shared with the sender): 'advance' says how far. */
  | { kind: 'share'; job: number; data: Uint8Array }
  /** Hash the shared bytes up to `end` (the sender wrote them before posting this). */
  | { kind: 'advance'; job: number; end: number }
  /** Forget what was hashed: the download starts again from byte 0. */
  | { kind: 'reset'; job: number }
  /** The digest of everything given; ends the job. */
  | { kind: 'digest'; job: number }
  | { kind: 'drop'; job: number };

export type HashReply =
  /** `bytes` more were hashed, in `ms`. */
  | { kind: 'hashed'; job: number; bytes: number; ms: number }
  | { kind: 'digest'; job: number; hex: string }
  | { kind: 'error'; job: number; message: string };

/** A new hasher; a failure (no WebAssembly here?) is reported by the request that awaits it. */
function created(): Promise<IHasher> {
  const p = createSHA256();
  p.catch(() => {});
  return p;
}

interface Job {
  hasher: IHasher;
  shared: Uint8Array | null;
  /** With shared bytes: how far they are hashed. */
  at: number;
}

export class HashJobs {
  private readonly jobs = new Map<number, Job>();
  /** Spare hashers (creating one instantiates the WebAssembly module, so the first is made at once). */
  private readonly spares: Promise<IHasher>[] = [created()];

  private async get(job: number): Promise<Job> {
    let j = this.jobs.get(job);
    if (!j) {
      const hasher = await (this.spares.pop() ?? created());
      hasher.init();
      j = { hasher, shared: null, at: 0 };
      this.jobs.set(job, j);
    }
    return j;
  }

  private release(job: number): void {
    const j = this.jobs.get(job);
    this.jobs.delete(job);
    if (j && this.spares.length === 0) this.spares.push(Promise.resolve(j.hasher));
  }

  private hashed(job: number, t0: number, bytes: number): HashReply {
    return { kind: 'hashed', job, bytes, ms: performance.now() - t0 };
  }

  /** Handles one request; the caller must not start the next before this one resolved (order matters). */
  async handle(req: HashRequest): Promise<HashReply | null> {
    try {
      switch (req.kind) {
        case 'update': {
          const { hasher } = await this.get(req.job);
          const t0 = performance.now();
          let bytes = 0;
          for (const c of req.chunks) {
            hasher.update(c);
            bytes += c.length;
          }
          return this.hashed(req.job, t0, bytes);
        }
        case 'share':
          (await this.get(req.job)).shared = req.data;
          return null;
        case 'advance': {
          const j = await this.get(req.job);
          if (!j.shared || req.end > j.shared.length || req.end < j.at) throw new Error(`advance to ${req.end}: not within the shared bytes`);
          const t0 = performance.now();
          const from = j.at;
          j.hasher.update(j.shared.subarray(from, req.end));
          j.at = req.end;
          return this.hashed(req.job, t0, req.end - from);
        }
        case 'reset': {
          const j = await this.get(req.job);
          j.hasher.init();
          j.at = 0;
          return null;
        }
        case 'digest': {
          const hex = (await this.get(req.job)).hasher.digest('hex');
          this.release(req.job);
          return { kind: 'digest', job: req.job, hex };
        }
        case 'drop':
          this.release(req.job);
          return null;
      }
    } catch (e) {
      this.release(req.job);
      return { kind: 'error', job: req.job, message: e instanceof Error ? e.message : String(e) };
    }
  }
}
