// Picks the execution provider once per pack load: WebGPU on a hardware adapter, wasm otherwise.
import type { Ep, EpChoice } from '../../shared/protocol';
import type { GpuAdapterInfoLike, GpuAdapterLike, GpuLike } from './gpu';

export interface AdapterSummary {
  /** "vendor architecture description", for the banner. */
  name: string;
  software: boolean;
  shaderF16: boolean;
}

export interface EpDecision {
  ep: Ep;
  reason: string;
  adapter: string | null;
  shaderF16: boolean;
}

// CPU rasterisers that expose a WebGPU adapter: correct but far slower than ORT's own wasm kernels.
const SOFTWARE_ADAPTERS = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|warp/i;

export function summarizeAdapter(adapter: GpuAdapterLike): AdapterSummary {
  const info: GpuAdapterInfoLike = adapter.info ?? {};
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s): s is string => !!s);
  const name = parts.join(' ').trim() || 'unknown adapter';
  const software = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || SOFTWARE_ADAPTERS.test(name);
  return { name, software, shaderF16: adapter.features.has('shader-f16') };
}

export async function probeAdapter(gpu: GpuLike | null): Promise<AdapterSummary | 'no-api' | 'no-adapter'> {
  if (!gpu) return 'no-api';
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    return adapter ? summarizeAdapter(adapter) : 'no-adapter';
  } catch {
    return 'no-adapter';
  }
}

/** Pure decision table, unit-tested: `choice` comes from `?ep=`, `probe` from probeAdapter. */
export function decideEp(choice: EpChoice, probe: AdapterSummary | 'no-api' | 'no-adapter'): EpDecision {
  if (choice === 'wasm') {
    const adapter = typeof probe === 'object' ? probe.name : null;
    return { ep: 'wasm', reason: 'WebAssembly was requested (?ep=wasm)', adapter, shaderF16: false };
  }
  if (probe === 'no-api') {
    return { ep: 'wasm', reason: 'this browser has no WebGPU', adapter: null, shaderF16: false };
  }
  if (probe === 'no-adapter') {
    return { ep: 'wasm', reason: 'no WebGPU adapter is available', adapter: null, shaderF16: false };
  }
  if (choice === 'webgpu') {
    return { ep: 'webgpu', reason: 'WebGPU was requested (?ep=webgpu)', adapter: probe.name, shaderF16: probe.shaderF16 };
  }
  if (probe.software) {
    return {
      ep: 'wasm',
      reason: `the WebGPU adapter is a software fallback (${probe.name})`,
      adapter: probe.name,
      shaderF16: false,
    };
  }
  return { ep: 'webgpu', reason: 'hardware WebGPU adapter', adapter: probe.name, shaderF16: probe.shaderF16 };
}
