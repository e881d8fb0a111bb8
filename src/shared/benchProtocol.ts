// Messages between the bench page (src/bench/bare.ts) and its worker (src/worker/runtime/benchBare.ts).
export interface BareRequest {
  pack: string;
  ep: 'wasm' | 'webgpu';
  steps: number;
  /**
   * Guided steps run (and timed, in `warm`) before the `steps` timed ones (default 1). V8 first runs
   * the wasm build's kernels as baseline code and compiles the hot ones again, optimised, in the
   * background: the gradient graph's many rarely-run kernels reach the optimised tier after ~20 steps.
   */
  warmSteps?: number;
  pageUrl: string;
  /** Rows of the U-Net batch and of the gradient batch (default 1 and 1; 0 skips the gradient). */
  unetRows?: number;
  gradRows?: number;
  /**
   * serial (default): both sessions in this worker's ORT instance, one after the other. overlap (wasm):
   * the gradient graph in a worker and ORT instance of its own (src/worker/runtime/gradientClient.ts),
   * called while the U-Net runs, as the app does on wasm with 2+ cores.
   */
  strategy?: 'serial' | 'overlap';
  /** overlap: the threads of the U-Net's and of the gradient's instance (default: the app's split). */
  unetThreads?: number;
  gradThreads?: number;
}

/** What a caller of the bare loop chooses besides the pack, EP, steps and rows (the bench page's bareBench). */
export type BareStrategy = Pick<BareRequest, 'strategy' | 'unetThreads' | 'gradThreads' | 'warmSteps'>;

export interface BareResult {
  /**
   * A guided step per step, ms (after one warm-up step): serial U-Net + gradient graph; overlap from
   * the start of both to the end of the later one.
   */
  stepMs: number[];
  /** serial: the U-Net's run; overlap: the U-Net alone (an unguided step), timed before the guided steps. */
  unetMs: number[];
  /** serial: the gradient graph's run; overlap: from the start of the step to its result. */
  gradMs: number[];
  threads: number;
  hasGrad: boolean;
  strategy: 'serial' | 'overlap';
  /** overlap: the threads of each instance; null for serial. */
  split: { unet: number; gradient: number } | null;
  /** The warm-up steps, timed as the others (overlap: unetMs is the U-Net alone, run before them). */
  warm: { stepMs: number[]; unetMs: number[]; gradMs: number[] };
}

export type BareReply = { ok: true; result: BareResult } | { ok: false; error: string };
