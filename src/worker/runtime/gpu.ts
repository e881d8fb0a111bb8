// The few WebGPU shapes the worker touches. TypeScript's WebWorker lib has no WebGPU types and
// @webgpu/types is not a dependency, so they are declared here, reduced to what is read.

export interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export interface GpuAdapterLike {
  readonly features: { has(name: string): boolean };
  readonly info?: GpuAdapterInfoLike;
  /** Older spelling, still exposed by some browsers. */
  readonly isFallbackAdapter?: boolean;
}

export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

export interface GpuDeviceLike {
  readonly lost: Promise<{ reason: string; message: string }>;
}

export interface GpuBufferLike {
  readonly size: number;
  destroy(): void;
}

/** What uploading inputs needs of the GPUDevice ORT created (gpuFeeds.ts). */
export interface GpuUploadDevice {
  createBuffer(descriptor: { size: number; usage: number }): GpuBufferLike;
  readonly queue: { writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferView, dataOffset?: number, size?: number): void };
}

/** GPUBufferUsage flags (the constants are not in TypeScript's WebWorker lib). */
export const GPU_BUFFER_USAGE = { COPY_SRC: 0x04, COPY_DST: 0x08, STORAGE: 0x80 } as const;

/** navigator.gpu in a worker, or null where the browser has no WebGPU at all. */
export function gpuOf(nav: unknown): GpuLike | null {
  const gpu = (nav as { gpu?: unknown } | null)?.gpu;
  return gpu && typeof (gpu as GpuLike).requestAdapter === 'function' ? (gpu as GpuLike) : null;
}
