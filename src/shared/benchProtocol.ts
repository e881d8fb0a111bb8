// Messages between the bench page (src/bench/bare.ts) and its worker (src/worker/runtime/benchBare.ts).
export interface BareRequest {
  pack: string;
  ep: 'wasm' | 'webgpu';
  steps: number;
  pageUrl: string;
  /** Rows of the U-Net batch and of the gradient batch (default 1 and 1; 0 skips the gradient). */
  unetRows?: number;
  gradRows?: number;
}

export interface BareResult {
  /** U-Net + gradient graph per step, ms (after one warm-up step). */
  stepMs: number[];
  unetMs: number[];
  gradMs: number[];
  threads: number;
  hasGrad: boolean;
}

export type BareReply = { ok: true; result: BareResult } | { ok: false; error: string };
