// Which onnxruntime-web build runs an EP. The WebGPU build (JSEP) is compiled with Asyncify so that
// its WebGPU kernels can await the GPU; that instrumentation also slows every CPU kernel, and the
// wasm EP in that build ran at about half the speed of the plain SIMD build on the default pack
// (docs/benchmarks.md, "wasm: which ORT build"). So the wasm EP gets the plain build and only WebGPU
// pays for JSEP ('onnxruntime-web', the build the WebGPU path was tested on; 'onnxruntime-web/webgpu'
// is the newer C++ WebGPU EP on yet another Asyncify build). Each build is loaded on first use: a page that never asks for WebGPU never fetches
// its 28 MB of wasm.
import type * as OrtApi from 'onnxruntime-web';
// Emitted as assets by Vite; ORT imports the glue and streams the wasm from these URLs.
import plainGlueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import plainWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import jsepGlueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs?url';
import jsepWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import type { Ep } from '../../shared/protocol';

export type Ort = typeof OrtApi;

/** The build each EP runs on: its module and its wasm assets. */
export const ORT_BUILDS = {
  wasm: { load: () => import('onnxruntime-web/wasm') as Promise<Ort>, glue: plainGlueUrl, wasm: plainWasmUrl },
  webgpu: { load: () => import('onnxruntime-web') as Promise<Ort>, glue: jsepGlueUrl, wasm: jsepWasmUrl },
} as const satisfies Record<Ep, { load: () => Promise<Ort>; glue: string; wasm: string }>;

const loaded = new Map<Ep, Promise<Ort>>();
/** The wasm EP's thread count where this worker's instance shares the cores with another (threadSplit.ts). */
let wasmEpThreads: number | null = null;

/**
 * Sets the threads of this worker's wasm-EP instance; it takes effect only before that build is
 * loaded (ORT starts its thread pool once). Returns whether it did.
 */
export function setWasmEpThreads(n: number): boolean {
  if (loaded.has('wasm')) return false;
  wasmEpThreads = Math.max(1, Math.floor(n));
  return true;
}

/**
 * Threads for the wasm kernels of every build: up to 4 when the page is cross-origin isolated
 * (SharedArrayBuffer), else 1. ORT's own default would be min(4, cores / 2).
 */
export function wasmThreadCount(): number {
  return self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
}

/** The configured ORT module for `ep`, loaded once per worker. */
export function ortFor(ep: Ep): Promise<Ort> {
  let p = loaded.get(ep);
  if (!p) {
    const build = ORT_BUILDS[ep];
    p = build.load().then((ort) => {
      ort.env.wasm.numThreads = ep === 'wasm' && wasmEpThreads !== null ? wasmEpThreads : wasmThreadCount();
      ort.env.wasm.wasmPaths = { mjs: new URL(build.glue, self.location.href), wasm: new URL(build.wasm, self.location.href) };
      ort.env.logLevel = 'error';
      return ort;
    });
    // A failed import (offline, a blocked chunk) may be retried by the next load.
    p.catch(() => loaded.delete(ep));
    loaded.set(ep, p);
  }
  return p;
}

/** The module of `ep` if it was loaded (nothing is loaded to answer). */
export function loadedOrt(ep: Ep): Promise<Ort> | null {
  return loaded.get(ep) ?? null;
}
