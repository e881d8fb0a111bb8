// WebGPU session inputs as GPU buffers. In a guided step the U-Net and the classifier-gradient
// graph read the same x_t, timesteps and labels: each distinct tensor is uploaded once and both
// graphs bind the same buffer. A buffer is destroyed once it is superseded and every run that read
// it has been read back (a readback waits for all earlier GPU work, so nothing still uses it).
import type * as ort from 'onnxruntime-web';
import { GPU_BUFFER_USAGE, type GpuBufferLike, type GpuUploadDevice } from './gpu';
import type { Ort } from './ortRuntime';

export type FeedData = Float32Array | BigInt64Array;

export interface Feed {
  data: FeedData;
  dims: readonly number[];
}

interface Upload {
  /** A copy of what was uploaded: a later request with equal bytes and dims reuses the buffer. */
  bytes: Uint8Array;
  dims: readonly number[];
  buffer: GpuBufferLike;
  tensor: ort.Tensor;
  /** Runs that bound it and are not yet read back. */
  users: number;
  superseded: boolean;
}

/** The tensors for one run: hand them back with `done` once its outputs are read (or it failed). */
export interface GpuFeedSet {
  feeds: Record<string, ort.Tensor>;
  done(): void;
}

export class GpuFeeds {
  private readonly latest = new Map<string, Upload>();
  private readonly live = new Set<Upload>();
  /** Uploads made and uploads saved by sharing (read by the tests). */
  readonly counts = { uploads: 0, shared: 0 };

  private readonly ortApi: Ort;
  private readonly device: GpuUploadDevice;

  constructor(ortApi: Ort, device: GpuUploadDevice) {
    this.ortApi = ortApi;
    this.device = device;
  }

  take(inputs: Record<string, Feed>): GpuFeedSet {
    const taken: Upload[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    try {
      for (const [name, feed] of Object.entries(inputs)) {
        const u = this.upload(name, feed);
        u.users++;
        taken.push(u);
        feeds[name] = u.tensor;
      }
    } catch (e) {
      for (const u of taken) this.giveBack(u);
      throw e;
    }
    let returned = false;
    return {
      feeds,
      done: () => {
        if (returned) return;
        returned = true;
        for (const u of taken) this.giveBack(u);
      },
    };
  }

  /** Destroys every buffer (session release; no run may be in flight). */
  destroy(): void {
    for (const u of this.live) u.buffer.destroy();
    this.live.clear();
    this.latest.clear();
  }

  private upload(name: string, feed: Feed): Upload {
    const bytes = new Uint8Array(feed.data.buffer, feed.data.byteOffset, feed.data.byteLength);
    const prev = this.latest.get(name);
    if (prev && sameDims(prev.dims, feed.dims) && sameBytes(prev.bytes, bytes)) {
      this.counts.shared++;
      return prev;
    }
    // Never rewritten in place: a run that bound the old buffer may not have executed yet.
    const buffer = this.device.createBuffer({
      size: Math.ceil(bytes.byteLength / 16) * 16,
      usage: GPU_BUFFER_USAGE.STORAGE | GPU_BUFFER_USAGE.COPY_SRC | GPU_BUFFER_USAGE.COPY_DST,
    });
    this.device.queue.writeBuffer(buffer, 0, bytes);
    const dataType = feed.data instanceof BigInt64Array ? 'int64' : 'float32';
    const tensor = this.ortApi.Tensor.fromGpuBuffer(buffer as unknown as ort.Tensor.GpuBufferType, { dataType, dims: [...feed.dims] });
    const u: Upload = { bytes: bytes.slice(), dims: [...feed.dims], buffer, tensor, users: 0, superseded: false };
    this.counts.uploads++;
    this.live.add(u);
    if (prev) {
      prev.superseded = true;
      if (prev.users === 0) this.free(prev);
    }
    this.latest.set(name, u);
    return u;
  }

  private giveBack(u: Upload): void {
    u.users--;
    if (u.users === 0 && u.superseded) this.free(u);
  }

  private free(u: Upload): void {
    if (!this.live.delete(u)) return;
    u.buffer.destroy();
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  // Every feed is 4- or 8-byte elements: compare 32-bit words.
  const wa = new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
  const wb = new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
  return true;
}
