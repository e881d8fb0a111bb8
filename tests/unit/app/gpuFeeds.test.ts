// WebGPU I/O (src/worker/runtime/gpuFeeds.ts, graphIo.ts) against a recording fake device and session: one
// upload per distinct input shared by the graphs of a step, no buffer rewritten or destroyed while a
// run that bound it is unread, outputs read back outside the run queue and always disposed.
import type * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import type { GpuUploadDevice } from '../../../src/worker/runtime/gpu';
import { GpuFeeds } from '../../../src/worker/runtime/gpuFeeds';
import { gpuGraphIo } from '../../../src/worker/runtime/graphIo';
import type { Ort } from '../../../src/worker/runtime/ortRuntime';
import { createSerialQueue } from '../../../src/worker/runtime/serialQueue';

interface FakeBuffer {
  size: number;
  usage: number;
  bytes: Uint8Array;
  destroyed: boolean;
  destroy(): void;
}

function fakeDevice() {
  const buffers: FakeBuffer[] = [];
  const writes: FakeBuffer[] = [];
  const device = {
    createBuffer({ size, usage }: { size: number; usage: number }) {
      const b: FakeBuffer = { size, usage, bytes: new Uint8Array(size), destroyed: false, destroy() { this.destroyed = true; } };
      buffers.push(b);
      return b;
    },
    queue: {
      writeBuffer(buffer: FakeBuffer, offset: number, data: ArrayBufferView) {
        if (buffer.destroyed) throw new Error('write to a destroyed buffer');
        buffer.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
        writes.push(buffer);
      },
    },
  };
  return { device: device as unknown as GpuUploadDevice, buffers, writes };
}

const fakeOrt = {
  Tensor: {
    fromGpuBuffer: (buffer: FakeBuffer, o: { dataType: string; dims: number[] }) => ({ location: 'gpu-buffer', gpuBuffer: buffer, type: o.dataType, dims: o.dims }),
  },
} as unknown as Ort;

const bufferOf = (t: ort.Tensor) => (t as unknown as { gpuBuffer: FakeBuffer }).gpuBuffer;
const step = (v: number) => ({
  x: { data: new Float32Array([v, v + 1, v + 2, v + 3, v + 4, v + 5]), dims: [1, 3, 1, 2] },
  timesteps: { data: new Float32Array([v * 10]), dims: [1] },
  y: { data: new BigInt64Array([3n]), dims: [1] },
});

describe('GpuFeeds', () => {
  it('uploads each distinct input once: the U-Net and the gradient graph of a step bind the same buffers', () => {
    const { device, buffers, writes } = fakeDevice();
    const feeds = new GpuFeeds(fakeOrt, device);
    const unet = feeds.take(step(1));
    const grad = feeds.take(step(1)); // fresh arrays with equal bytes: still shared
    expect(buffers).toHaveLength(3);
    expect(writes).toHaveLength(3);
    expect(feeds.counts).toEqual({ uploads: 3, shared: 3 });
    for (const name of ['x', 'timesteps', 'y']) expect(bufferOf(grad.feeds[name])).toBe(bufferOf(unet.feeds[name]));
    const x = bufferOf(unet.feeds.x);
    expect(x.size % 16).toBe(0);
    expect(Array.from(new Float32Array(x.bytes.buffer, 0, 6))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(unet.feeds.y.type).toBe('int64');
    expect(unet.feeds.x.dims).toEqual([1, 3, 1, 2]);
  });

  it('a new step gets new buffers; the old ones are destroyed only once every run that bound them is done', () => {
    const { device, buffers } = fakeDevice();
    const feeds = new GpuFeeds(fakeOrt, device);
    const a = feeds.take(step(1));
    const b = feeds.take(step(1));
    const old = bufferOf(a.feeds.x);
    a.done();
    const c = feeds.take(step(2)); // supersedes while b still holds the step-1 buffers
    expect(bufferOf(c.feeds.x)).not.toBe(old);
    expect(old.destroyed).toBe(false);
    b.done();
    expect(old.destroyed).toBe(true);
    b.done(); // a second done is harmless
    c.done();
    expect(bufferOf(c.feeds.x).destroyed).toBe(false); // the latest stays for the next graph of the step
    // Same bytes, other dims: not the same tensor.
    const d = feeds.take({ x: { data: new Float32Array([2, 3, 4, 5, 6, 7]), dims: [1, 3, 2, 1] } });
    expect(bufferOf(d.feeds.x)).not.toBe(bufferOf(c.feeds.x));
    d.done();
    feeds.destroy();
    expect(buffers.every((buf) => buf.destroyed)).toBe(true);
  });
});

/** A session whose outputs live on the "GPU": getData resolves when the test says so. */
function fakeSession(log: string[], name: string, release: Promise<void>) {
  let disposed = 0;
  const session = {
    async run(feeds: Record<string, ort.Tensor>, fetches: string[]) {
      log.push(`${name} run x=${bufferOf(feeds.x).size}`);
      const out: Record<string, unknown> = {};
      for (const f of fetches) {
        out[f] = {
          type: 'float32',
          getData: async () => {
            await release;
            log.push(`${name} read ${f}`);
            return new Float32Array([f.length]);
          },
          dispose: () => disposed++,
        };
      }
      return out;
    },
  };
  return { session: session as unknown as ort.InferenceSession, disposed: () => disposed };
}

describe('gpuGraphIo', () => {
  it('queues the second graph before the first is read back, then disposes every output', async () => {
    const { device } = fakeDevice();
    const io = gpuGraphIo(fakeOrt, device, createSerialQueue());
    const log: string[] = [];
    let go!: () => void;
    const release = new Promise<void>((r) => (go = r));
    const unet = fakeSession(log, 'unet', release);
    const grad = fakeSession(log, 'grad', release);
    const a = io.run(unet.session, step(1), ['model_output']);
    const b = io.run(grad.session, step(1), ['grad', 'logp']);
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(['unet run x=32', 'grad run x=32']); // both on the GPU, nothing read yet
    go();
    expect(await a).toEqual({ model_output: new Float32Array([12]) });
    expect(await b).toEqual({ grad: new Float32Array([4]), logp: new Float32Array([4]) });
    expect(unet.disposed()).toBe(1);
    expect(grad.disposed()).toBe(2);
    expect(io.counts).toEqual({ uploads: 3, shared: 3 });
    expect(io.gpuResident).toBe(true);
  });

  it('a failed run gives its inputs back and reports the error', async () => {
    const { device, buffers } = fakeDevice();
    const io = gpuGraphIo(fakeOrt, device, createSerialQueue());
    const broken = { run: async () => { throw new Error('kernel failed'); } } as unknown as ort.InferenceSession;
    await expect(io.run(broken, step(1), ['model_output'])).rejects.toThrow('kernel failed');
    const next = io.run(fakeSession([], 'unet', Promise.resolve()).session, step(2), ['model_output']);
    await next;
    // x and timesteps changed: superseded and unused, so freed; the same label is still shared.
    expect(buffers.map((b) => b.destroyed)).toEqual([true, true, false, false, false]);
    io.release();
    expect(buffers.every((b) => b.destroyed)).toBe(true);
  });

  it('refuses an output that is not float32', async () => {
    const { device } = fakeDevice();
    const io = gpuGraphIo(fakeOrt, device, createSerialQueue());
    const odd = { run: async () => ({ model_output: { type: 'int64', dispose: () => undefined } }) } as unknown as ort.InferenceSession;
    await expect(io.run(odd, step(1), ['model_output'])).rejects.toThrow('model output "model_output" is missing or not float32');
  });
});
