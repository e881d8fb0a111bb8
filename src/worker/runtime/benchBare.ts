// Bare ONNX Runtime loop for tools/bench (bench.html): the pack's U-Net and classifier-gradient sessions
// on one EP, run back to back with fixed inputs (no sampling maths, no UI, no messages per step).
// Same ORT build per EP (ortRuntime.ts), wasm assets, thread count, session options and manifest check as the app's worker
// (src/worker/runtime/sessions.ts, src/shared/manifest.ts).
import type * as ort from 'onnxruntime-web';
import { GRAPH_IO, type GraphFile } from '../../shared/manifest';
import { parseManifest } from '../../shared/manifestCheck';
import type { BareRequest, BareResult } from '../../shared/benchProtocol';
import { ortFor, wasmThreadCount } from './ortRuntime';
import { createSession, type GraphBytes } from './sessions';

const scope = self as unknown as Worker;
const IO = GRAPH_IO.names;

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url.href}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** A graph and its external-data files, fetched from the pack folder (no OPFS, no integrity check). */
async function graphBytes(base: URL, g: GraphFile): Promise<GraphBytes> {
  const externalData = await Promise.all((g.externalData ?? []).map(async (e) => ({ path: e.file, data: await fetchBytes(new URL(e.file, base)) })));
  return { name: g.file, bytes: await fetchBytes(new URL(g.file, base)), externalData };
}

async function run(req: BareRequest): Promise<BareResult> {
  const threads = wasmThreadCount();
  const ortApi = await ortFor(req.ep);
  const base = new URL(`models/${req.pack}/`, req.pageUrl);
  const r = await fetch(new URL('manifest.json', base));
  if (!r.ok) throw new Error(`models/${req.pack}/manifest.json: HTTP ${r.status}`);
  const manifest = parseManifest(await r.json());
  const unet = await createSession(await graphBytes(base, manifest.unet), req.ep);
  const grad = manifest.classifierGrad ? await createSession(await graphBytes(base, manifest.classifierGrad), req.ep) : null;

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
  const feeds = (n: number, withY: boolean): Record<string, ort.Tensor> => ({
    [IO.x]: new ortApi.Tensor('float32', x.subarray(0, n * 3 * s * s), [n, 3, s, s]),
    [IO.timesteps]: new ortApi.Tensor('float32', new Float32Array(n).fill(500), [n]),
    ...(withY ? { [IO.y]: new ortApi.Tensor('int64', new BigInt64Array(n), [n]) } : {}),
  });
  const step = async (): Promise<[number, number]> => {
    const t0 = performance.now();
    const u = await unet.run(feeds(unetRows, manifest.classCond), [IO.modelOutput]);
    for (const t of Object.values(u)) void (t.data as Float32Array).length;
    const t1 = performance.now();
    if (grad && gradRows > 0) {
      const g = await grad.run(feeds(gradRows, true), [IO.grad, IO.logp]);
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
