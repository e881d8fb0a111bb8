import { describe, expect, it } from 'vitest';
import { decideEp, probeAdapter, summarizeAdapter, type AdapterSummary } from '../../../src/worker/runtime/capabilities';
import { gpuOf, type GpuAdapterLike } from '../../../src/worker/runtime/gpu';

const adapter = (info: GpuAdapterLike['info'], features: string[] = []): GpuAdapterLike => ({
  info,
  features: new Set(features),
});

const hw: AdapterSummary = { name: 'nvidia ampere', software: false, shaderF16: true };
const sw: AdapterSummary = { name: 'google swiftshader', software: true, shaderF16: false };

describe('summarizeAdapter', () => {
  it('recognises SwiftShader (the headless Chromium adapter) as software', () => {
    expect(summarizeAdapter(adapter({ vendor: 'google', architecture: 'swiftshader' }))).toEqual(sw);
  });
  it('recognises the spec fallback flag and Mesa CPU drivers', () => {
    expect(summarizeAdapter(adapter({ vendor: 'x', isFallbackAdapter: true })).software).toBe(true);
    expect(summarizeAdapter(adapter({ description: 'llvmpipe (LLVM 15)' })).software).toBe(true);
  });
  it('treats a named GPU as hardware and reads shader-f16', () => {
    expect(summarizeAdapter(adapter({ vendor: 'nvidia', architecture: 'ampere' }, ['shader-f16']))).toEqual(hw);
  });
});

describe('decideEp', () => {
  it('auto: WebGPU only on a hardware adapter', () => {
    expect(decideEp('auto', hw)).toMatchObject({ ep: 'webgpu', shaderF16: true });
    expect(decideEp('auto', sw)).toMatchObject({ ep: 'wasm', reason: expect.stringMatching(/software fallback/) });
    expect(decideEp('auto', 'no-api')).toMatchObject({ ep: 'wasm', reason: 'this browser has no WebGPU' });
    expect(decideEp('auto', 'no-adapter')).toMatchObject({ ep: 'wasm', reason: 'no WebGPU adapter is available' });
  });
  it('?ep=webgpu forces WebGPU even on SwiftShader, but cannot conjure an adapter', () => {
    expect(decideEp('webgpu', sw)).toMatchObject({ ep: 'webgpu', adapter: 'google swiftshader' });
    expect(decideEp('webgpu', 'no-adapter').ep).toBe('wasm');
  });
  it('?ep=wasm always uses wasm and never the fp16 graph', () => {
    expect(decideEp('wasm', hw)).toMatchObject({ ep: 'wasm', shaderF16: false });
  });
});

describe('probeAdapter', () => {
  it('reports a missing API, a missing adapter and a throwing requestAdapter', async () => {
    expect(await probeAdapter(gpuOf({}))).toBe('no-api');
    expect(await probeAdapter({ requestAdapter: async () => null })).toBe('no-adapter');
    expect(await probeAdapter({ requestAdapter: async () => { throw new Error('blocked'); } })).toBe('no-adapter');
    expect(await probeAdapter(gpuOf({ gpu: { requestAdapter: async () => adapter({ vendor: 'apple', architecture: 'metal-3' }) } }))).toMatchObject({
      software: false,
    });
  });
});
