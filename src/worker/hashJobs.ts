// SHA-256 of the model files being downloaded, one job per file: hash-wasm's WebAssembly SHA-256
// (about 3x the TypeScript one in ./sha256.ts) fed chunk by chunk. Runs in its own worker
// (./hashWorker.ts) so that hashing overlaps the download and the writes to storage instead of
// alternating with them; the same class runs inline where no worker can be started (./hasher.ts).

import { createSHA256, type IHasher } from 'hash-wasm';

export type HashRequest =
  /** Hash `chunks` after everything this job was given before (a job starts at its first message). */
  | { kind: 'update'; job: number; chunks: Uint8Array[] }
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

export class HashJobs {
  private readonly jobs = new Map<number, IHasher>();
  /** Spare hashers (creating one instantiates the WebAssembly module, so the first is made at once). */
  private readonly spares: Promise<IHasher>[] = [created()];

  private async hasher(job: number): Promise<IHasher> {
    let h = this.jobs.get(job);
    if (!h) {
      h = await (this.spares.pop() ?? created());
      h.init();
      this.jobs.set(job, h);
    }
    return h;
  }

  private release(job: number): void {
    const h = this.jobs.get(job);
    this.jobs.delete(job);
    if (h && this.spares.length === 0) this.spares.push(Promise.resolve(h));
  }

  /** Handles one request; the caller must not start the next before this one resolved (order matters). */
  async handle(req: HashRequest): Promise<HashReply | null> {
    try {
      switch (req.kind) {
        case 'update': {
          const h = await this.hasher(req.job);
          const t0 = performance.now();
          let bytes = 0;
          for (const c of req.chunks) {
            h.update(c);
            bytes += c.length;
          }
          return { kind: 'hashed', job: req.job, bytes, ms: performance.now() - t0 };
        }
        case 'reset':
          (await this.hasher(req.job)).init();
          return null;
        case 'digest': {
          const hex = (await this.hasher(req.job)).digest('hex');
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
