// ONNX Runtime's start-up, once per worker and EP: the first pack load on an EP begins it while the
// manifest and the model files arrive.
import type { Ep } from '../../shared/protocol';
import { sessionOptions } from './ortSession';
import { ortFor } from './ortRuntime';

/** A 70-byte ONNX graph (one Identity op, opset 17): creating a session of it starts ORT's runtime. */
const STARTER_MODEL = Uint8Array.from(atob('CAgSADo6ChAKAXgSAXkiCElkZW50aXR5EgRpbml0Wg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQEQ=='), (c) => c.charCodeAt(0));

/**
 * Starts ONNX Runtime for `ep` (fetching and compiling its WebAssembly, starting its threads, and on
 * WebGPU getting the device) by creating and releasing a session of a trivial graph, so that this
 * one-time start-up can overlap the model downloads instead of being charged to the first real
 * session. Resolves with its duration in ms, or null when it failed (the real session then reports).
 */
async function startRuntime(ep: Ep): Promise<number | null> {
  const t0 = performance.now();
  try {
    const ort = await ortFor(ep);
    const s = await ort.InferenceSession.create(STARTER_MODEL, sessionOptions(ep));
    await s.release();
    return performance.now() - t0;
  } catch {
    return null;
  }
}

const runtimeStarts = new Map<string, Promise<number | null>>();

/** The first load on an EP pays ORT's start-up; later loads get 0 (it is already running). */
export function startRuntimeOnce(ep: 'webgpu' | 'wasm'): Promise<number | null> {
  const started = runtimeStarts.get(ep);
  if (started) return started.then(() => 0);
  const p = startRuntime(ep);
  runtimeStarts.set(ep, p);
  void p.then((ms) => ms === null && runtimeStarts.delete(ep)); // failed: try again next load
  return p;
}
