// When the classifier-gradient graph gets an ONNX Runtime instance of its own (gradientWorker.ts),
// and how the wasm threads are shared between that instance and the U-Net's (env.wasm.numThreads is
// per instance). Measured in docs/benchmarks.md ("The gradient graph on its own instance").
import type { Ep } from '../../shared/protocol';

export interface ThreadSplit {
  unet: number;
  gradient: number;
}

/**
 * The split when the gradient graph gets its own instance, null when it does not: apart only on the
 * wasm EP (WebGPU keeps one instance: its GPU-resident inputs are shared by both graphs, graphIo.ts),
 * with at least two cores (where the two graphs can run at the same time), where a worker can be
 * started, and where the U-Net keeps its threads (all of them up to two). On an idle 2-core machine,
 * isolated (2 threads), the U-Net on 1 thread took 152-167 ms against 92 on 2, and a guided step
 * 152-177 ms apart against 138-144 in turn: there the split loses. Not isolated (1 thread each) the
 * U-Net loses nothing and the gradient runs on the otherwise idle core. `total`: as splitThreads.
 */
export function gradientApart(ep: Ep, total: number, cores: number, canSpawn: boolean): ThreadSplit | null {
  if (ep !== 'wasm' || cores < 2 || !canSpawn) return null;
  const split = splitThreads(total);
  return split.unet >= Math.min(2, total) ? split : null;
}

/**
 * `total`: the threads one instance would get (ortRuntime.ts wasmThreadCount: up to 4 when the page
 * is cross-origin isolated, else 1). The gradient graph costs about half a U-Net on the default pack
 * and ORT's second thread gained nothing there, so the gradient instance gets a third of them (at
 * least one) and the U-Net the rest; not isolated, each instance has its one thread and the two
 * still use two cores.
 */
export function splitThreads(total: number): ThreadSplit {
  const t = Math.max(1, Math.floor(total));
  const gradient = Math.max(1, Math.floor(t / 3));
  return { unet: Math.max(1, t - gradient), gradient };
}
