// Entry of the gradient worker: the classifier-gradient session in an onnxruntime-web instance of its
// own, so that on the wasm EP it runs at the same time as the U-Net in the pack worker's instance
// (two instances, two cores) instead of after it. Started by gradientClient.ts.
import type { OpenGradient } from './gradientServe';
import { serveGradient } from './gradientServe';
import { createGradientSession } from './gradientSession';
import { cpuGraphIo } from './graphIo';
import { ortFor, setWasmEpThreads } from './ortRuntime';
import { createSerialQueue } from './serialQueue';

declare const self: DedicatedWorkerGlobalScope;

const open: OpenGradient = async (graph, manifest, threads) => {
  setWasmEpThreads(threads);
  const io = cpuGraphIo(await ortFor('wasm'), createSerialQueue());
  return createGradientSession(manifest, graph, 'wasm', io);
};

serveGradient(self as unknown as Parameters<typeof serveGradient>[0], open);
