// Bare ONNX Runtime loop for tools/bench.ts: the pack's U-Net and classifier-gradient sessions on
// one EP, run back to back with fixed inputs (no sampling maths, no UI, no messages per step).
// Same ORT build, wasm assets and thread count as the app's worker (src/worker/sessions.ts).
import * as ort from 'onnxruntime-web';
import ortWasmGlueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs?url';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import type { BareRequest, BareResult } from '../shared/benchProtocol';

const scope = self as unknown as Worker;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function run(req: BareRequest): Promise<BareResult> {
  const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = { mjs: new URL(ortWasmGlueUrl, self.location.href), wasm: new URL(ortWasmUrl, self.location.href) };
  ort.env.logLevel = 'error';
  const base = new URL(`models/${req.pack}/`, req.pageUrl);
  const manifest = (await (await fetch(new URL('manifest.json', base))).json()) as {
    imageSize: number; classCond: boolean; unet: { file: string }; classifierGrad?: { file: string } | null;
  };
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [req.ep === 'webgpu' ? { name: 'webgpu' } : { name: 'wasm' }],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  const unet = await ort.InferenceSession.create(await fetchBytes(new URL(manifest.unet.file, base).href), options);
  const grad = manifest.classifierGrad
    ? await ort.InferenceSession.create(await fetchBytes(new URL(manifest.classifierGrad.file, base).href), options)
    : null;

  const s = manifest.imageSize;
  // Batched steps (grid views): the U-Net on unetRows rows, the gradient graph on gradRows rows.
  const unetRows = req.unetRows ?? 1;
  const gradRows = req.gradRows ?? 1;
  const rows = Math.max(unetRows, gradRows, 1);
  const x = new Float32Array(rows * 3 * s * s);
  let seed = 12345;
  for (let k = 0; k < x.length; k++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    x[k] = (seed / 2 ** 32) * 2 - 1;
  }
  const feeds = (n: number): Record<string, ort.Tensor> => ({
    x: new ort.Tensor('float32', x.subarray(0, n * 3 * s * s), [n, 3, s, s]),
    timesteps: new ort.Tensor('float32', new Float32Array(n).fill(500), [n]),
    y: new ort.Tensor('int64', new BigInt64Array(n), [n]),
  });
  const step = async (): Promise<[number, number]> => {
    const t0 = performance.now();
    const uf = feeds(unetRows);
    if (!manifest.classCond) delete uf.y;
    const u = await unet.run(uf);
    for (const t of Object.values(u)) void (t.data as Float32Array).length;
    const t1 = performance.now();
    if (grad && gradRows > 0) {
      const g = await grad.run(feeds(gradRows), ['grad', 'logp']);
      for (const t of Object.values(g)) void (t.data as Float32Array).length;
    }
    return [t1 - t0, performance.now() - t1];
  };
  await step(); // warm-up
  const stepMs: number[] = [];
  const unetMs: number[] = [];
  const gradMs: number[] = [];
  for (let k = 0; k < req.steps; k++) {
    const [a, b] = await step();
    unetMs.push(a);
    gradMs.push(b);
    stepMs.push(a + b);
  }
  await unet.release();
  await grad?.release();
  return { stepMs, unetMs, gradMs, threads, hasGrad: grad !== null };
}

scope.onmessage = (e: MessageEvent<BareRequest>) => {
  run(e.data).then(
    (result) => scope.postMessage({ ok: true, result }),
    (err: unknown) => scope.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
};
