// Which graph files a load uses per execution provider, or why none can run: decided from the
// manifest before any download.
import { describe, expect, it } from 'vitest';
import type { GraphFile } from '../../../src/shared/manifest';
import { chooseGraphs, EP_LIMITS, GraphChoiceError } from '../../../src/worker/runtime/graphChoice';
import { gradientApart, splitThreads } from '../../../src/worker/runtime/threadSplit';
import { fakeManifest, fakeUpsampler } from './fakes';

const GB = 1e9;
const g = (file: string, dtype: GraphFile['dtype'], bytes = 1000): GraphFile => ({ file, dtype, bytes, sha256: 'a'.repeat(64), inputs: [], outputs: [] });
const fp32 = g('unet.onnx', 'float32');
const fp16 = g('unet.fp16.onnx', 'float16');

describe('chooseGraphs', () => {
  it('prefers the fp16 U-Net on WebGPU with shader-f16, the float32 one elsewhere', () => {
    const m = fakeManifest({ unet: fp32, unetFp16: fp16 });
    expect(chooseGraphs(m, 'webgpu', true)).toMatchObject({ unet: fp16, fp16: true, note: null });
    expect(chooseGraphs(m, 'webgpu', false)).toMatchObject({ unet: fp32, fp16: false, note: null });
    expect(chooseGraphs(m, 'wasm', false)).toMatchObject({ unet: fp32, fp16: false, note: null });
  });

  it('fp16=0 takes the fp32 U-Net where both exist, and says so; a float16-only pack still runs', () => {
    const m = fakeManifest({ unet: fp32, unetFp16: fp16 });
    expect(chooseGraphs(m, 'webgpu', true, false)).toMatchObject({ unet: fp32, fp16: false, note: 'fp32 U-Net as asked (fp16=0)' });
    expect(chooseGraphs(m, 'webgpu', false, false)).toMatchObject({ unet: fp32, note: null }); // nothing to decline
    expect(chooseGraphs(m, 'wasm', false, false)).toMatchObject({ unet: fp32, note: null });
    const only16 = fakeManifest({ unet: g('unet.onnx', 'float16'), unetFp16: undefined });
    expect(chooseGraphs(only16, 'webgpu', true, false)).toMatchObject({ fp16: true, note: null });
  });

  it('takes the other file when the preferred one is over the 2 GiB protobuf limit, and says why', () => {
    const big16 = g('unet.fp16.onnx', 'float16', EP_LIMITS.protobufBytes + 1);
    const c = chooseGraphs(fakeManifest({ unet: fp32, unetFp16: big16 }), 'webgpu', true);
    expect(c).toMatchObject({ unet: fp32, fp16: false });
    expect(c.note).toMatch(/^using unet\.onnx: unet\.fp16\.onnx is 2\.15 GB, over the 2 GiB ONNX Runtime reads from one graph file/);
  });

  it('refuses a float16-only U-Net on wasm, and on WebGPU without shader-f16, saying why', () => {
    const m = fakeManifest({ unet: g('unet.onnx', 'float16'), unetFp16: undefined });
    expect(() => chooseGraphs(m, 'wasm', false)).toThrow(
      new GraphChoiceError("This pack cannot run on WebAssembly (CPU): unet.onnx is a float16 graph, which ONNX Runtime's WebAssembly backend does not run"),
    );
    expect(() => chooseGraphs(m, 'webgpu', false)).toThrow(/cannot run on WebGPU: unet\.onnx is a float16 graph and this WebGPU adapter lacks the shader-f16 feature/);
    expect(chooseGraphs(m, 'webgpu', true)).toMatchObject({ fp16: true });
  });

  it('refuses a classifier graph the EP cannot run (there is no other file for it)', () => {
    const m = fakeManifest({ unet: fp32, classifierGrad: g('classifier_grad.onnx', 'float16') });
    expect(() => chooseGraphs(m, 'wasm', false)).toThrow(/classifier_grad\.onnx is a float16 graph/);
  });

  it('refuses on wasm what would not fit the 4 GiB heap, and mentions WebGPU when an fp16 U-Net exists', () => {
    const m = fakeManifest({ unet: g('unet.onnx', 'float32', 1.9 * GB), unetFp16: fp16, classifierGrad: g('classifier_grad.onnx', 'float32', 0.6 * GB) });
    expect(() => chooseGraphs(m, 'wasm', false)).toThrow(
      /cannot run on WebAssembly \(CPU\): its graphs need about 4\.40 GB of WebAssembly memory .* more than the 4 GiB a wasm32 heap holds; a WebGPU adapter with shader-f16 could run its float16 U-Net/,
    );
    expect(chooseGraphs(m, 'webgpu', true).unet).toBe(fp16);
    // the 1.4 GB pack of issue 10 (1.1 GB U-Net + 0.3 GB classifier) fits
    expect(() => chooseGraphs(fakeManifest({ unet: g('unet.onnx', 'float32', 1.1 * GB), classifierGrad: g('c.onnx', 'float32', 0.3 * GB) }), 'wasm', false)).not.toThrow();
  });

  it('keeps the upsampler the EP can run; leaves out, with a note, one it cannot (the base model still runs)', () => {
    const up = (dtype: GraphFile['dtype'], bytes = 1000) => fakeUpsampler({ dtype, bytes });
    const ok = chooseGraphs(fakeManifest({ unet: fp32, upsampler: up('float32') }), 'wasm', false);
    expect(ok.upsampler?.file).toBe('upsampler.onnx');
    expect(ok.note).toBeNull();
    const half = fakeManifest({ unet: fp32, upsampler: up('float16') });
    const c = chooseGraphs(half, 'wasm', false);
    expect(c.upsampler).toBeNull();
    expect(c.unet).toBe(fp32);
    expect(c.note).toMatch(/^no upsampling on WebAssembly \(CPU\): upsampler\.onnx is a float16 graph/);
    expect(chooseGraphs(half, 'webgpu', true).upsampler?.file).toBe('upsampler.onnx');
    // Base graphs that fit the wasm heap, with an upsampler that would not.
    const heavy = chooseGraphs(fakeManifest({ unet: g('unet.onnx', 'float32', 1.1 * GB), upsampler: up('float32', 1.9 * GB) }), 'wasm', false);
    expect(heavy.upsampler).toBeNull();
    expect(heavy.note).toMatch(/no upsampling on WebAssembly \(CPU\): with it the graphs would need about .* more than 4 GiB/);
    expect(chooseGraphs(fakeManifest({ unet: fp32 }), 'wasm', false).upsampler).toBeNull();
  });

  it('applies the 4 GiB wasm heap per ONNX Runtime instance when the gradient graph lives apart', () => {
    // 1.9 GB U-Net + 1.4 GB gradient graph: one heap would need 1.9 + 1.4 + 1.9 (serialized copy) = 5.2 GB;
    // apart 3.8 GB and 2.8 GB, each under 4 GiB (4.29 GB).
    const fits = fakeManifest({ unet: g('unet.onnx', 'float32', 1.9 * GB), classifierGrad: g('classifier_grad.onnx', 'float32', 1.4 * GB) });
    expect(() => chooseGraphs(fits, 'wasm', false)).toThrow(/its graphs need about 5\.20 GB of WebAssembly memory/);
    // It fits only apart, so the gradient worker must start (no fallback into one instance).
    expect(chooseGraphs(fits, 'wasm', false, true, true)).toMatchObject({ unet: { file: 'unet.onnx' }, gradientApartRequired: true });
    // A U-Net over 4 GiB on its own (0.1 GB graph + 4.2 GB external data) is refused apart too.
    const huge = fakeManifest({
      unet: { ...g('unet.onnx', 'float32', 0.1 * GB), externalData: [{ file: 'unet.onnx.data', bytes: 4.2 * GB, sha256: 'b'.repeat(64) }] },
      classifierGrad: g('c.onnx', 'float32', 0.3 * GB),
    });
    expect(() => chooseGraphs(huge, 'wasm', false, true, true)).toThrow(/about 4\.40 GB of WebAssembly memory \(the weights of every graph in one ONNX Runtime instance/);
    // A pack that fits one heap may still fall back.
    const small = fakeManifest({ unet: g('unet.onnx', 'float32', 1.1 * GB), classifierGrad: g('c.onnx', 'float32', 0.3 * GB) });
    expect(chooseGraphs(small, 'wasm', false, true, true).gradientApartRequired).toBe(false);
    // The upsampler shares the U-Net's heap: beside a 1.9 GB U-Net a 0.3 GB upsampler fits apart (4.1e9 B < 4 GiB).
    const withUp = fakeManifest({ unet: g('unet.onnx', 'float32', 1.9 * GB), classifierGrad: g('c.onnx', 'float32', 1.4 * GB), upsampler: fakeUpsampler({ bytes: 0.3 * GB }) });
    expect(chooseGraphs(withUp, 'wasm', false, true, true)).toMatchObject({ upsampler: { file: 'upsampler.onnx' }, gradientApartRequired: true });
    // 1.1 GB U-Net + 0.6 GB gradient graph fit one heap (2.8 GB), but not with a 1.4 GB upsampler beside them
    // (4.5 GB); apart the U-Net's heap holds U-Net and upsampler (3.9 GB), so the worker must start.
    const smallUp = fakeManifest({ unet: g('unet.onnx', 'float32', 1.1 * GB), classifierGrad: g('c.onnx', 'float32', 0.6 * GB), upsampler: fakeUpsampler({ bytes: 1.4 * GB }) });
    expect(chooseGraphs(smallUp, 'wasm', false, true, true)).toMatchObject({ upsampler: { file: 'upsampler.onnx' }, gradientApartRequired: true });
    expect(chooseGraphs(smallUp, 'wasm', false, true, false)).toMatchObject({ upsampler: null, gradientApartRequired: false });
    expect(EP_LIMITS.wasmHeapBytes).toBe(4 * 2 ** 30);
  });
});

describe('gradientApart / splitThreads', () => {
  it('puts the gradient graph apart on wasm with 2+ cores and a worker only, never taking the U-Net\'s second thread', () => {
    expect(gradientApart('wasm', 2, 2, true)).toBeNull(); // 2 threads: the U-Net keeps both, the graphs run in turn
    expect(gradientApart('wasm', 3, 4, true)).toEqual({ unet: 2, gradient: 1 });
    expect(gradientApart('wasm', 4, 8, true)).toEqual({ unet: 3, gradient: 1 });
    expect(gradientApart('wasm', 1, 2, true)).toEqual({ unet: 1, gradient: 1 }); // not isolated: one thread each
    expect(gradientApart('wasm', 1, 1, true)).toBeNull();
    expect(gradientApart('webgpu', 4, 8, true)).toBeNull();
    expect(gradientApart('wasm', 4, 8, false)).toBeNull();
  });

  it('gives the gradient instance a third of the threads, at least one', () => {
    expect([1, 2, 3, 4].map(splitThreads)).toEqual([
      { unet: 1, gradient: 1 }, { unet: 1, gradient: 1 }, { unet: 2, gradient: 1 }, { unet: 3, gradient: 1 },
    ]);
  });
});
