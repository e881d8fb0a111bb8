// How a session's tensors travel. wasm: CPU tensors in, CPU tensors out, one run at a time.
// WebGPU: inputs are GPU buffers shared by the graphs that read them (gpuFeeds.ts) and outputs
// stay in GPU buffers until read, so the U-Net and the gradient graph are queued back to back and
// the step waits on the GPU once, not once per graph.
import type * as ort from 'onnxruntime-web';
import type { GpuUploadDevice } from './gpu';
import { GpuFeeds, type Feed } from './gpuFeeds';
import type { Ort } from './ortRuntime';
import type { SerialQueue } from './serialQueue';

export interface GraphIo {
  /** Runs `session` on `inputs` and reads back the float32 outputs named in `fetches`. */
  run(session: ort.InferenceSession, inputs: Record<string, Feed>, fetches: readonly string[]): Promise<Record<string, Float32Array>>;
  /** True where inputs and outputs live in GPU buffers. */
  readonly gpuResident: boolean;
  /** Frees what the IO holds (after the sessions are released). */
  release(): void;
  /** Uploads made and saved by sharing (WebGPU; zeros on wasm). */
  readonly counts: { uploads: number; shared: number };
}

export function cpuGraphIo(ortApi: Ort, queue: SerialQueue): GraphIo {
  return {
    gpuResident: false,
    counts: { uploads: 0, shared: 0 },
    release: () => undefined,
    run: (session, inputs, fetches) =>
      queue.run(async () => {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, f] of Object.entries(inputs)) {
          feeds[name] = f.data instanceof BigInt64Array
            ? new ortApi.Tensor('int64', f.data, [...f.dims])
            : new ortApi.Tensor('float32', f.data, [...f.dims]);
        }
        let out: ort.InferenceSession.ReturnType | null = null;
        try {
          out = await session.run(feeds, [...fetches]);
          const read: Record<string, Float32Array> = {};
          // CPU-located outputs are fresh copies out of the wasm heap; safe after dispose.
          for (const name of fetches) read[name] = floatOutput(out, name).data as Float32Array;
          return read;
        } finally {
          for (const t of Object.values(out ?? {})) t.dispose();
          for (const t of Object.values(feeds)) t.dispose();
        }
      }),
  };
}

export function gpuGraphIo(ortApi: Ort, device: GpuUploadDevice, queue: SerialQueue): GraphIo {
  const feeds = new GpuFeeds(ortApi, device);
  return {
    gpuResident: true,
    counts: feeds.counts,
    release: () => feeds.destroy(),
    run: async (session, inputs, fetches) => {
      const set = feeds.take(inputs);
      let out: ort.InferenceSession.ReturnType | null = null;
      try {
        // Only the run is serialised: reading back happens outside the queue, so the next graph
        // is already queued on the GPU while this one's outputs download.
        out = await queue.run(() => session.run(set.feeds, [...fetches]));
        const o = out;
        const data = await Promise.all(fetches.map((name) => floatOutput(o, name).getData()));
        const read: Record<string, Float32Array> = {};
        fetches.forEach((name, k) => (read[name] = data[k] as Float32Array));
        return read;
      } finally {
        for (const t of Object.values(out ?? {})) t.dispose();
        set.done();
      }
    },
  };
}

function floatOutput(out: ort.InferenceSession.ReturnType, name: string): ort.Tensor {
  const t = out[name];
  if (!t || t.type !== 'float32') throw new Error(`model output "${name}" is missing or not float32`);
  return t;
}
