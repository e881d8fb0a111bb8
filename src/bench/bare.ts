// Entry of bench.html: exposes window.bareBench(pack, ep, steps, unetRows?, gradRows?, strategy?) for
// tools/bench.ts, which runs the bare ORT loop in a module worker (as the app does) and resolves with
// its timings; the row counts measure batched steps (grid views), `strategy` where the gradient graph
// runs (BareRequest). A fresh worker per call: each strategy gets ORT instances of its own.
import type { BareReply, BareRequest, BareResult, BareStrategy } from '../shared/benchProtocol';

function bareBench(pack: string, ep: 'wasm' | 'webgpu', steps: number, unetRows = 1, gradRows = 1, strategy: BareStrategy = {}): Promise<BareResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('../worker/runtime/benchBare.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<BareReply>) => {
      worker.terminate();
      if (e.data.ok) resolve(e.data.result);
      else reject(new Error(e.data.error));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`bench worker failed: ${e.message}`));
    };
    worker.postMessage({ pack, ep, steps, pageUrl: location.href, unetRows, gradRows, ...strategy } satisfies BareRequest);
  });
}

(window as unknown as { bareBench: typeof bareBench }).bareBench = bareBench;
document.body.dataset.benchReady = '1';
