// The machine a bench result was measured on, measured rather than written in: the host's CPUs and
// memory (node:os), the Node and Chromium versions, the ONNX Runtime packages, and what the browser
// reports (cores, cross-origin isolation, and the WebGPU adapter: vendor / architecture, so a software
// adapter such as SwiftShader shows as such).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';

export interface WebGpuAdapter {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  shaderF16: boolean;
}

/** What the bench page sees of the machine. */
export interface BrowserDevice {
  userAgent: string;
  hardwareConcurrency: number;
  crossOriginIsolated: boolean;
  /** navigator.gpu exists. */
  webgpu: boolean;
  /** null: no adapter (WebGPU unavailable). */
  adapter: WebGpuAdapter | null;
}

/** Asks the served bench page (a page of the built app's origin, so the same isolation headers). */
export async function browserDevice(browser: Browser, url: string): Promise<BrowserDevice> {
  const page = await browser.newPage();
  try {
    await page.goto(`${url}bench.html`);
    return await page.evaluate(async () => {
      type Adapter = { info?: Record<string, unknown>; features: Set<string>; isFallbackAdapter?: boolean };
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
      let adapter: WebGpuAdapter | null = null;
      if (gpu) {
        const a = await gpu.requestAdapter();
        if (a) {
          // No inner functions here: tsx (esbuild keepNames) would wrap them in a __name() the page lacks.
          const i = a.info ?? {};
          const fallback = typeof i.isFallbackAdapter === 'boolean' ? i.isFallbackAdapter : a.isFallbackAdapter;
          const found: WebGpuAdapter = { shaderF16: a.features.has('shader-f16') };
          for (const k of ['vendor', 'architecture', 'device', 'description'] as const) {
            const v = i[k];
            if (typeof v === 'string' && v !== '') found[k] = v;
          }
          if (typeof fallback === 'boolean') found.isFallbackAdapter = fallback;
          adapter = found;
        }
      }
      return {
        userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
        crossOriginIsolated: self.crossOriginIsolated, webgpu: Boolean(gpu), adapter,
      };
    });
  } finally {
    await page.close();
  }
}

/** Adapters that run WebGPU on the CPU (Chromium's SwiftShader, Mesa's llvmpipe / lavapipe, Windows WARP). */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic render/i;

export function isSoftwareAdapter(a: WebGpuAdapter): boolean {
  return a.isFallbackAdapter === true || SOFTWARE_ADAPTER.test([a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' '));
}

function packageVersion(name: string): string | null {
  try {
    const v = (JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

const GIB = 1024 ** 3;

/** The host as node:os sees it. */
export function hostMachine() {
  const cpus = os.cpus();
  const models = [...new Set(cpus.map((c) => c.model.trim()).filter(Boolean))];
  return {
    cpuModel: models.length ? models.join(' + ') : 'unknown',
    cpuCount: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / GIB) * 10) / 10,
    platform: `${process.platform}-${process.arch}`,
    osRelease: os.release(),
    nodeVersion: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    onnxruntimeWeb: packageVersion('onnxruntime-web'),
  };
}

export type HostMachine = ReturnType<typeof hostMachine>;

function adapterText(a: WebGpuAdapter): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' / ') || a.description || a.device || 'unnamed adapter';
  return `${name}${isSoftwareAdapter(a) ? ' (software: runs on the CPU)' : ''}`;
}

/**
 * The result's `machine`: the host, plus the browser's view when a browser part ran (`browser` null:
 * none did, so the WebGPU adapter was not asked). `summary` is one line made of the measured fields.
 */
export function describeMachine(host: HostMachine, browser: { version: string; device: BrowserDevice } | null) {
  const webgpu = !browser
    ? 'not measured (no browser part ran)'
    : !browser.device.webgpu
      ? 'none (navigator.gpu missing)'
      : browser.device.adapter
        ? adapterText(browser.device.adapter)
        : 'none (no adapter)';
  const summary = `${host.cpuCount} × ${host.cpuModel}, ${host.memoryGiB} GiB RAM, ${host.platform}, Node ${host.nodeVersion}`
    + `${browser ? `, Chromium ${browser.version}` : ''}; WebGPU adapter: ${webgpu}`;
  return {
    summary,
    ...host,
    chromium: browser ? {
      version: browser.version,
      userAgent: browser.device.userAgent,
      hardwareConcurrency: browser.device.hardwareConcurrency,
      crossOriginIsolated: browser.device.crossOriginIsolated,
    } : null,
    webgpuAdapter: browser?.device.adapter ? { ...browser.device.adapter, software: isSoftwareAdapter(browser.device.adapter) } : null,
  };
}
