// The bench's machine description is measured (tools/bench/machine.ts), not written in.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { describeMachine, hostMachine, isSoftwareAdapter, type BrowserDevice } from '../../../tools/bench/machine';

const device = (adapter: BrowserDevice['adapter']): BrowserDevice => ({
  userAgent: 'HeadlessChrome', hardwareConcurrency: 8, crossOriginIsolated: true, webgpu: true, adapter,
});

describe('bench machine description', () => {
  it('takes the host from node:os', () => {
    const h = hostMachine();
    expect(h.cpuCount).toBe(os.cpus().length);
    expect(h.cpuModel).toBe(os.cpus()[0]?.model.trim() || 'unknown');
    expect(h.memoryGiB).toBeCloseTo(os.totalmem() / 1024 ** 3, 1);
    expect(h.nodeVersion).toBe(process.version);
  });

  it('says when WebGPU was not measured', () => {
    const m = describeMachine(hostMachine(), null);
    expect(m.webgpuAdapter).toBeNull();
    expect(m.chromium).toBeNull();
    expect(m.summary).toMatch(/WebGPU adapter: not measured/);
    expect(m.summary).not.toMatch(/2-core CPU VM/);
  });

  it('names a software adapter as such, and a hardware one by vendor / architecture', () => {
    const sw = describeMachine(hostMachine(), { version: '140.0', device: device({ vendor: 'google', architecture: 'swiftshader', shaderF16: true }) });
    expect(sw.webgpuAdapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader', software: true });
    expect(sw.summary).toMatch(/Chromium 140\.0; WebGPU adapter: google \/ swiftshader \(software: runs on the CPU\)$/);
    const hw = describeMachine(hostMachine(), { version: '140.0', device: device({ vendor: 'nvidia', architecture: 'hopper', shaderF16: true }) });
    expect(hw.webgpuAdapter?.software).toBe(false);
    expect(hw.summary).toMatch(/WebGPU adapter: nvidia \/ hopper$/);
    expect(describeMachine(hostMachine(), { version: '1', device: device(null) }).summary).toMatch(/WebGPU adapter: none \(no adapter\)$/);
  });

  it('counts a fallback adapter or a llvmpipe description as software', () => {
    expect(isSoftwareAdapter({ shaderF16: false, isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ shaderF16: false, description: 'llvmpipe (LLVM 17.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ shaderF16: true, vendor: 'amd', architecture: 'rdna-3' })).toBe(false);
  });
});
