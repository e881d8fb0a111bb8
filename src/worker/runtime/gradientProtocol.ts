// Messages between the pack worker (gradientClient.ts) and the gradient worker (gradientWorker.ts,
// gradientServe.ts). Every request carries an id; its one reply carries the same id. Inputs are
// copied (the sampling loop keeps using them), outputs transferred (the worker has no further use).
import type { Shape4 } from '../../diffusion/types';
import type { GradientManifest } from './gradientSession';
import type { GraphBytes } from './ortSession';

export interface GradientCall {
  x: Float32Array;
  timesteps: Float32Array;
  y: Int32Array;
  shape: Shape4;
}

export type GradientRequest =
  /** Creates the session (once): the graph's bytes (copied, or shared where they are in shared memory), its ORT threads. */
  | { kind: 'open'; id: number; graph: GraphBytes; manifest: GradientManifest; threads: number }
  | ({ kind: 'grad'; id: number } & GradientCall)
  | ({ kind: 'readout'; id: number } & GradientCall)
  | { kind: 'release'; id: number };

export type GradientValue =
  | { kind: 'open' }
  | { kind: 'grad'; grad: Float32Array; logp: Float32Array }
  | { kind: 'readout'; logits: Float32Array; features: Float32Array | null }
  | { kind: 'release' };

export type GradientReply = { id: number; ok: true; value: GradientValue } | { id: number; ok: false; error: string };

/** The buffers of a reply's arrays, for postMessage's transfer list. */
export function replyTransfer(v: GradientValue): ArrayBuffer[] {
  const arrays = v.kind === 'grad' ? [v.grad, v.logp] : v.kind === 'readout' ? [v.logits, v.features] : [];
  const out: ArrayBuffer[] = [];
  for (const a of arrays) if (a && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer)) out.push(a.buffer);
  return out;
}
