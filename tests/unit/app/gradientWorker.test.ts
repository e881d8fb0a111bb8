// The gradient worker's messages (src/worker/runtime/gradientClient.ts <-> gradientServe.ts) over a fake
// worker pair: each call answered by its own reply, inputs copied, outputs transferred, errors carried
// back with their message, a dead worker failing every call; and the fallback into the U-Net's instance
// (sessions.ts openGradient).
import { describe, expect, it, vi } from 'vitest';
import type { GradientEndpoint } from '../../../src/worker/runtime/gradientClient';
import { openRemoteGradient } from '../../../src/worker/runtime/gradientClient';
import type { GradientReply, GradientRequest } from '../../../src/worker/runtime/gradientProtocol';
import { serveGradient, type OpenGradient } from '../../../src/worker/runtime/gradientServe';
import type { GradientSession } from '../../../src/worker/runtime/gradientSession';
import { openGradient } from '../../../src/worker/runtime/sessions';

const graph = { name: 'classifier_grad.onnx', bytes: Uint8Array.of(1, 2, 3) };
const manifest = { labels: [3, 7] };

/**
 * A session computing a known function of its inputs: grad = x * (y + 1) + t, logp = sum(x) per row,
 * logits = [t, y] per row, features = null; it throws for label 99.
 */
function arithmeticSession(released: string[]): GradientSession {
  const rows = (x: Float32Array, n: number) => x.length / n;
  return {
    classifierGrad: async (x, t, y) => {
      if (y.includes(99)) throw new Error('label 99 is out of range');
      const per = rows(x, y.length);
      const grad = x.map((v, k) => v * (y[Math.floor(k / per)] + 1) + t[Math.floor(k / per)]);
      const logp = Float32Array.from(y, (_, r) => x.subarray(r * per, (r + 1) * per).reduce((a, b) => a + b, 0));
      return { grad, logp };
    },
    classifierReadout: async (_x, t, y) => ({ logits: Float32Array.from([...y].flatMap((v, r) => [t[r], v])), features: null }),
    release: async () => void released.push('session'),
  };
}

/** A worker pair: messages structured-cloned both ways, asynchronously, as postMessage does. */
function fakePair(open: OpenGradient) {
  const sent: GradientRequest[] = [];
  const transferred: ArrayBuffer[][] = [];
  let terminated = false;
  const client: GradientEndpoint = {
    onmessage: null,
    onerror: null,
    postMessage: (msg) => {
      sent.push(msg);
      const copy = structuredClone(msg);
      queueMicrotask(() => server.onmessage?.({ data: copy } as MessageEvent<GradientRequest>));
    },
    terminate: () => void (terminated = true),
  };
  const server = {
    onmessage: null as ((e: MessageEvent<GradientRequest>) => void) | null,
    postMessage: (msg: GradientReply, transfer: Transferable[]) => {
      transferred.push(transfer as ArrayBuffer[]);
      const copy = structuredClone(msg, { transfer });
      if (!terminated) queueMicrotask(() => client.onmessage?.({ data: copy } as MessageEvent<GradientReply>));
    },
  };
  serveGradient(server, open);
  return { client, sent, transferred, isTerminated: () => terminated };
}

describe('the gradient worker protocol', () => {
  it('opens the session with the graph, labels and threads, and answers each call with its own result', async () => {
    const released: string[] = [];
    const opened: unknown[] = [];
    const pair = fakePair(async (g, m, threads) => {
      opened.push([g.name, [...g.bytes], m.labels, threads]);
      return arithmeticSession(released);
    });
    const s = await openRemoteGradient(() => pair.client, graph, manifest, 1);
    expect(opened).toEqual([['classifier_grad.onnx', [1, 2, 3], [3, 7], 1]]);
    const x = Float32Array.of(1, 2, 3, 4);
    // Two calls in flight at once: each gets its own reply.
    const [a, b] = await Promise.all([
      s.classifierGrad(x, Float32Array.of(10, 20), Int32Array.of(0, 1), [2, 1, 1, 2]),
      s.classifierReadout(x, Float32Array.of(5), Int32Array.of(1), [1, 1, 2, 2]),
    ]);
    expect([...a.grad]).toEqual([11, 12, 26, 28]);
    expect([...a.logp]).toEqual([3, 7]);
    expect(b).toEqual({ logits: Float32Array.of(5, 1), features: null });
    expect([...x]).toEqual([1, 2, 3, 4]); // inputs copied, the caller's array intact
    // Outputs travel as transfers: the server handed over the grad and logp buffers.
    expect(pair.transferred.some((t) => t.length === 2)).toBe(true);
    await s.release();
    expect(released).toEqual(['session']);
    expect(pair.isTerminated()).toBe(true);
    await expect(s.classifierGrad(x, Float32Array.of(1), Int32Array.of(0), [1, 1, 2, 2])).rejects.toThrow('the classifier-gradient session was released');
  });

  it('sends a view of a larger buffer as its own copy', async () => {
    const pair = fakePair(async () => arithmeticSession([]));
    const s = await openRemoteGradient(() => pair.client, graph, manifest, 1);
    const big = new Float32Array(1000).fill(2);
    const r = await s.classifierGrad(big.subarray(10, 14), Float32Array.of(0), Int32Array.of(0), [1, 1, 2, 2]);
    expect([...r.grad]).toEqual([2, 2, 2, 2]);
    const req = pair.sent.find((m) => m.kind === 'grad') as Extract<GradientRequest, { kind: 'grad' }>;
    expect(req.x.buffer.byteLength).toBe(16);
    s.terminate();
  });

  it('carries a failed call back as an error with its message, and keeps serving', async () => {
    const pair = fakePair(async () => arithmeticSession([]));
    const s = await openRemoteGradient(() => pair.client, graph, manifest, 1);
    await expect(s.classifierGrad(Float32Array.of(1), Float32Array.of(0), Int32Array.of(99), [1, 1, 1, 1])).rejects.toThrow('label 99 is out of range');
    expect([...(await s.classifierGrad(Float32Array.of(1), Float32Array.of(0), Int32Array.of(0), [1, 1, 1, 1])).grad]).toEqual([1]);
    s.terminate();
  });

  it('rejects the open, and terminates the worker, when the session cannot be created', async () => {
    const pair = fakePair(async () => {
      throw new Error('classifier_grad.onnx: ONNX Runtime (wasm) could not load it: bad graph');
    });
    await expect(openRemoteGradient(() => pair.client, graph, manifest, 1)).rejects.toThrow('could not load it: bad graph');
    expect(pair.isTerminated()).toBe(true);
  });

  it('fails every call in flight and every later one when the worker dies', async () => {
    const pair = fakePair(async () => ({ ...arithmeticSession([]), classifierGrad: () => new Promise(() => {}) }));
    const s = await openRemoteGradient(() => pair.client, graph, manifest, 1);
    const inFlight = s.classifierGrad(Float32Array.of(1), Float32Array.of(0), Int32Array.of(0), [1, 1, 1, 1]);
    pair.client.onerror?.({ message: 'out of memory', preventDefault: () => {} } as ErrorEvent);
    await expect(inFlight).rejects.toThrow('the classifier-gradient worker failed: out of memory');
    await expect(s.classifierReadout(Float32Array.of(1), Float32Array.of(0), Int32Array.of(0), [1, 1, 1, 1])).rejects.toThrow('out of memory');
    expect(pair.isTerminated()).toBe(true);
  });

  it('answers a call before open with an error', async () => {
    const pair = fakePair(async () => arithmeticSession([]));
    const replies: GradientReply[] = [];
    pair.client.onmessage = (e) => void replies.push(e.data);
    pair.client.postMessage({ kind: 'grad', id: 7, x: Float32Array.of(1), timesteps: Float32Array.of(0), y: Int32Array.of(0), shape: [1, 1, 1, 1] });
    await vi.waitFor(() => expect(replies).toEqual([{ id: 7, ok: false, error: 'the gradient session is not open' }]));
  });
});

describe('openGradient: its own worker, or the U-Net instance', () => {
  const local = arithmeticSession([]);
  const remote = arithmeticSession([]);
  const apart = (required: boolean) => ({ spawn: () => { throw new Error('unused'); }, threads: 1, required });

  it('uses the worker where asked and it starts', async () => {
    expect(await openGradient(apart(false), async () => remote, async () => local, 'g.onnx')).toEqual({ session: remote, workerThreads: 1, note: null });
    expect(await openGradient(null, async () => remote, async () => local, 'g.onnx')).toEqual({ session: local, workerThreads: null, note: null });
  });

  it('falls back to the U-Net instance with a console note when the worker cannot start', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    const r = await openGradient(apart(false), () => Promise.reject(new Error('Worker is not defined')), async () => local, 'g.onnx');
    expect(r.session).toBe(local);
    expect(r.workerThreads).toBeNull();
    expect(r.note).toBe("classifier gradient in the U-Net's instance (its own worker failed: Worker is not defined)");
    expect(info).toHaveBeenCalledWith(`[pack] ${r.note}`);
    info.mockRestore();
  });

  it('fails the load when the graphs fit the wasm heaps only apart', async () => {
    const localOpen = vi.fn(async () => local);
    await expect(openGradient(apart(true), () => Promise.reject(new Error('no worker')), localOpen, 'g.onnx'))
      .rejects.toThrow('g.onnx needs a WebAssembly instance of its own here, which could not be started: no worker');
    expect(localOpen).not.toHaveBeenCalled();
  });
});
