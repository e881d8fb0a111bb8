// The pack worker's side of the gradient worker (gradientWorker.ts): starts it, opens the
// classifier-gradient session there and serves it as a GradientSession, each call a message. A worker
// that fails (script error, crash) rejects every call in flight and every later one with its message;
// release() closes the session and terminates the worker.
import type { GradientCall, GradientReply, GradientRequest, GradientValue } from './gradientProtocol';
import type { GradientManifest, GradientSession } from './gradientSession';
import type { GraphBytes } from './ortSession';

/** What the client needs of a Worker (tests pass a fake one wired to serveGradient). */
export interface GradientEndpoint {
  onmessage: ((e: MessageEvent<GradientReply>) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
  postMessage(msg: GradientRequest): void;
  terminate(): void;
}

export type SpawnGradient = () => GradientEndpoint;

/** The gradient session in its own worker; `terminate` ends the worker at once (abort, pack switch). */
export interface RemoteGradientSession extends GradientSession {
  terminate(): void;
}

type Pending = { resolve: (v: GradientValue) => void; reject: (e: Error) => void };

type Body<R> = R extends unknown ? Omit<R, 'id'> : never;

/** Starts the worker and opens the session there; rejects (worker terminated) when either fails. */
export async function openRemoteGradient(spawn: SpawnGradient, graph: GraphBytes, manifest: GradientManifest, threads: number): Promise<RemoteGradientSession> {
  const worker = spawn();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let dead: Error | null = null;
  const fail = (e: Error) => {
    dead ??= e;
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
    worker.terminate();
  };
  worker.onmessage = (e) => {
    const reply = e.data;
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new Error(reply.error));
  };
  worker.onerror = (e) => {
    e.preventDefault?.();
    fail(new Error(`the classifier-gradient worker failed: ${e.message || 'it could not be started'}`));
  };
  const call = (req: Body<GradientRequest>): Promise<GradientValue> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<GradientValue>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id } as GradientRequest);
    });
  };
  const args = (x: Float32Array, timesteps: Float32Array, y: Int32Array, shape: GradientCall['shape']): GradientCall =>
    // Copies of the inputs (structured clone); views of a larger buffer are cut out first.
    ({ x: own(x), timesteps: own(timesteps), y: own(y), shape: [...shape] as GradientCall['shape'] });
  try {
    await call({ kind: 'open', graph: sendable(graph), manifest: { labels: manifest.labels }, threads });
  } catch (e) {
    fail(e as Error);
    throw e;
  }
  return {
    classifierGrad: async (x, timesteps, y, shape) => {
      const v = await call({ kind: 'grad', ...args(x, timesteps, y, shape) });
      if (v.kind !== 'grad') throw new Error(`gradient worker: a ${v.kind} reply to a grad request`);
      return { grad: v.grad, logp: v.logp };
    },
    classifierReadout: async (x, timesteps, y, shape) => {
      const v = await call({ kind: 'readout', ...args(x, timesteps, y, shape) });
      if (v.kind !== 'readout') throw new Error(`gradient worker: a ${v.kind} reply to a readout request`);
      return { logits: v.logits, features: v.features };
    },
    release: async () => {
      try {
        if (!dead) await call({ kind: 'release' });
      } finally {
        fail(new Error('the classifier-gradient session was released'));
      }
    },
    terminate: () => fail(new Error('the classifier-gradient worker was stopped')),
  };
}

/** The browser's gradient worker, bundled like the hashing thread (storage/hasher.ts). */
export function browserGradientWorker(): GradientEndpoint {
  return new Worker(new URL('./gradientWorker.ts', import.meta.url), { type: 'module', name: 'classifier-gradient' }) as unknown as GradientEndpoint;
}

/** A typed array as its own whole buffer (a copy of a view into a larger one), so cloning copies only it. */
function own<T extends Float32Array | Int32Array | Uint8Array>(a: T): T {
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  return whole || isShared(a) ? a : (a.slice() as T);
}

function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/** The graph's bytes as they travel: shared memory is shared, the rest copied (the caller keeps them for a fallback). */
function sendable(g: GraphBytes): GraphBytes {
  return { name: g.name, bytes: own(g.bytes), ...(g.externalData?.length ? { externalData: g.externalData.map((e) => ({ path: e.path, data: own(e.data) })) } : {}) };
}
