// Bare ONNX Runtime loop for tools/bench (bench.html): the pack's U-Net and classifier-gradient sessions
// on one EP with fixed inputs (no sampling maths, no UI, no messages per step), either one after the
// other in this worker's instance ('serial') or with the gradient graph in its own worker and instance,
// called while the U-Net runs ('overlap', what the app does on wasm with 2+ cores). Same ORT build per
// EP (ortRuntime.ts), wasm assets, thread rules, session options and manifest check as the app's worker
// (src/worker/runtime/sessions.ts, threadSplit.ts, src/shared/manifest.ts). One strategy per worker:
// ORT's thread count is fixed once an instance starts.
import type * as ort from 'onnxruntime-web';
import { GRAPH_IO, type GraphFile } from '../../shared/manifest';
import { parseManifest } from '../../shared/manifestCheck';
import type { BareRequest, BareResult } from '../../shared/benchProtocol';
import { browserGradientWorker, openRemoteGradient } from './gradientClient';
import { ortFor, setWasmEpThreads, wasmThreadCount } from './ortRuntime';
import { createSession, type GraphBytes } from './ortSession';
import { splitThreads } from './threadSplit';

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

type Gradient = (n: number) => Promise<unknown>;

async function run(req: BareRequest): Promise<BareResult> {
  const threads = wasmThreadCount();
  const overlap = req.strategy === 'overlap';
  if (overlap && req.ep !== 'wasm') throw new Error('the overlap strategy is for the wasm EP');
  const app = splitThreads(threads);
  const split = overlap ? { unet: req.unetThreads ?? app.unet, gradient: req.gradThreads ?? app.gradient } : null;
  if (split) setWasmEpThreads(split.unet);
  const ortApi = await ortFor(req.ep);
  const base = new URL(`models/${req.pack}/`, req.pageUrl);
  const r = await fetch(new URL('manifest.json', base));
  if (!r.ok) throw new Error(`models/${req.pack}/manifest.json: HTTP ${r.status}`);
  const manifest = parseManifest(await r.json());
  const unet = await createSession(await graphBytes(base, manifest.unet), req.ep);

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
  const runUnet = async () => {
    const u = await unet.run(feeds(unetRows, manifest.classCond), [IO.modelOutput]);
    for (const t of Object.values(u)) void (t.data as Float32Array).length;
  };

  let gradient: Gradient | null = null;
  let release = async () => {};
  if (manifest.classifierGrad && gradRows > 0) {
    const file = await graphBytes(base, manifest.classifierGrad);
    if (split) {
      const remote = await openRemoteGradient(browserGradientWorker, file, manifest, split.gradient);
      gradient = (n) => remote.classifierGrad(x.subarray(0, n * 3 * s * s), new Float32Array(n).fill(500), new Int32Array(n), [n, 3, s, s]);
      release = () => remote.release();
    } else {
      const grad = await createSession(file, req.ep);
      gradient = async (n) => {
        const g = await grad.run(feeds(n, true), [IO.grad, IO.logp]);
        for (const t of Object.values(g)) void (t.data as Float32Array).length;
      };
      release = () => grad.release();
    }
  }

  const stepMs: number[] = [];
  const unetMs: number[] = [];
  const gradMs: number[] = [];
  const warmSteps = req.warmSteps ?? 1;
  const warm = { stepMs: [] as number[], unetMs: [] as number[], gradMs: [] as number[] };
  if (split) {
    // The unguided step first: the U-Net alone on its instance's threads.
    for (let k = 0; k < warmSteps + req.steps; k++) {
      const t0 = performance.now();
      await runUnet();
      (k < warmSteps ? warm.unetMs : unetMs).push(performance.now() - t0);
    }
  }
  const step = async (): Promise<[number, number, number]> => {
    const t0 = performance.now();
    if (split) {
      // As the sampling loop asks: the gradient at x_t requested with the U-Net, both awaited after.
      let tg = t0;
      const g = gradient ? gradient(gradRows).then(() => void (tg = performance.now())) : Promise.resolve();
      let tu = t0;
      await Promise.all([runUnet().then(() => void (tu = performance.now())), g]);
      return [tu - t0, tg - t0, performance.now() - t0];
    }
    await runUnet();
    const t1 = performance.now();
    if (gradient) await gradient(gradRows);
    const t2 = performance.now();
    return [t1 - t0, t2 - t1, t2 - t0];
  };
  for (let k = 0; k < warmSteps + req.steps; k++) {
    const [a, b, c] = await step();
    const to = k < warmSteps ? warm : { stepMs, unetMs, gradMs };
    if (!split) to.unetMs.push(a);
    to.gradMs.push(b);
    to.stepMs.push(c);
  }
  await unet.release();
  await release();
  return { stepMs, unetMs, gradMs, threads, hasGrad: gradient !== null, strategy: split ? 'overlap' : 'serial', split, warm };
}

scope.onmessage = (e: MessageEvent<BareRequest>) => {
  run(e.data).then(
    (result) => scope.postMessage({ ok: true, result }),
    (err: unknown) => scope.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
};
