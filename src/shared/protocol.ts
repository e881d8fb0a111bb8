// The one message protocol between the UI (main thread) and the sampling worker.
// Both ends switch on `kind` exhaustively (see assertNever). Run-scoped messages carry the
// `runId` the UI chose, pack loads carry a `loadId`; the UI drops anything with a stale id.
import type { PackManifest } from './manifest';
import type { EpChoice, GenerateParams, PreviewOf, RunStage } from './params';
import type { EpInfo, GridReadout, ImportPhase, ImportTimings, LoadStage, LoadTimings, RecognisedFile, StorageEstimateInfo, StoredPackInfo } from './reports';

// The protocol's vocabulary lives in two files of its own; importers reach all of it here.
export type { GuidanceMode } from './manifest';
export * from './params';
export * from './reports';

export type ToWorker =
  /**
   * Builds a pack from released checkpoint files with the templates at `templatesUrl` (the app's own
   * templates/ folder) and stores it; answered with importRecognised, importProgress, then importDone or
   * importError. `appBase`: the page's base URL (imported packs are named under it). `urls`: files on
   * other servers, downloaded by the worker (src/shared/checkpointUrl.ts says which it may fetch).
   */
  | { kind: 'importCheckpoints'; importId: number; files: File[]; urls: string[]; templatesUrl: string; appBase: string }
  /** `fp16` false: prefer the pack's fp32 U-Net even where the fp16 one could run (`?fp16=0`); absent: true. */
  | { kind: 'load'; loadId: number; packUrl: string; ep: EpChoice; fp16?: boolean }
  /** The answer to `needStorageEstimate` (null: the page could not measure). */
  | { kind: 'storageEstimate'; loadId: number; estimate: StorageEstimateInfo | null }
  /** Asks for a `storedPacks` message. */
  | { kind: 'listStored' }
  /** Deletes a stored pack's files (those no other stored pack uses), then answers `storedPacks`. */
  | { kind: 'deleteStored'; key: string }
  | { kind: 'generate'; runId: number; params: GenerateParams }
  /** Takes effect from the next step of that run; the run is not restarted. Either scale, or both. */
  | { kind: 'setScale'; runId: number; classifierScale?: number; cfgScale?: number }
  | { kind: 'setPreview'; runId: number; previewOf: PreviewOf }
  /** Checked between steps. */
  | { kind: 'cancel'; runId: number };

export type FromWorker =
  | {
      kind: 'progress';
      loadId: number;
      file: string;
      loaded: number;
      total: number;
      /** The bytes come from storage (or the first `resumedAt` bytes did: a resumed download). */
      fromCache: boolean;
      /** Network speed over the last seconds; absent or null while unknown (or nothing is downloaded). */
      bytesPerSec?: number | null;
      /** Seconds left for the pack's remaining downloads at that speed. */
      etaSec?: number | null;
      /** This file's download continues from this byte (an earlier, interrupted download). */
      resumedAt?: number;
    }
  | { kind: 'ready'; loadId: number; manifest: PackManifest; epInfo: EpInfo; warmupMs: number; timings?: LoadTimings }
  /** `file`: with 'waiting', the model file another tab of this app has open (is storing) right now. */
  | { kind: 'loadStage'; loadId: number; stage: LoadStage; file?: string }
  /**
   * The worker is about to store downloads and asks the page for StorageManager.estimate() (and to
   * call persist(), which exists only on the page): the page answers with `storageEstimate`.
   */
  | { kind: 'needStorageEstimate'; loadId: number }
  /** The stored packs (after `listStored`, `deleteStored` and every load); `available` false: no OPFS. */
  | { kind: 'storedPacks'; packs: StoredPackInfo[]; available: boolean; error: string | null }
  | { kind: 'loadError'; loadId: number; message: string }
  | { kind: 'importRecognised'; importId: number; files: RecognisedFile[] }
  | { kind: 'importProgress'; importId: number; phase: ImportPhase; file: string; loaded: number; total: number }
  /** The pack is stored (at `packUrl`, an imported pack): the page adds it to the picker and loads it. */
  | { kind: 'importDone'; importId: number; packUrl: string; name: string; title: string; timings: ImportTimings }
  | { kind: 'importError'; importId: number; message: string }
  /** `upsampleSteps`: steps of the upsample stage that follows the base model's `numSteps` (absent or 0: none). */
  | { kind: 'started'; runId: number; numSteps: number; upsampleSteps?: number }
  | {
      kind: 'frame';
      runId: number;
      /** Absent: 'base'. `step` and `numSteps` count the steps of this stage; width and height are its image's. */
      stage?: RunStage;
      /** 1-based count of finished steps. */
      step: number;
      numSteps: number;
      timestep: number;
      width: number;
      height: number;
      /** RGBA bytes, transferred (not copied) from the worker. */
      rgba: ArrayBuffer;
      /** log p(y | x_t) of the sample, or null when the pack has no classifier. */
      logp: number | null;
      classifierScale: number;
      /** Classifier-free scale applied at this step (0: none). */
      cfgScale: number;
      /** ‖∇ₓ log p(y | ·)‖₂ of this step's (unscaled) gradient; null when the classifier was not called. */
      gradNorm?: number | null;
      /**
       * Float32 [H, W], transferred: Σ_c |s·Σ·∇ₓ log p| per pixel, the guidance term of this step
       * (channel-summed magnitude); null when the classifier was not called.
       */
      heat?: ArrayBuffer | null;
      /** Largest value of `heat` (0 when null). */
      heatMax?: number;
    }
  | {
      kind: 'gridFrame';
      runId: number;
      /** 1-based count of finished steps. */
      step: number;
      numSteps: number;
      timestep: number;
      width: number;
      height: number;
      cells: number;
      /** The cells' RGBA images back to back (cell k from byte k·width·height·4), transferred. */
      rgba: ArrayBuffer;
      /**
       * log p(y | x_t) per cell; null when the classifier was not called at this step, and null for a
       * cell it did not see (not classifier-guided: only guided cells go through the gradient graph).
       */
      logp: (number | null)[] | null;
      /** Per group: mean pairwise pixel L2 (RMS over the values of x₀ in [-1, 1]) of this step's predicted x₀. */
      pixelDiversity: number[];
      /**
       * Trade-off view: per group, the guidance classifier's mean log p(y | x̂₀) of this step's predicted x₀
       * (at t = 0, every cell); absent or null in the other views or without a classifier.
       */
      groupLogp?: number[] | null;
    }
  | ({ kind: 'gridReadout'; runId: number } & GridReadout)
  | { kind: 'done'; runId: number; ms: number }
  /** `step`: base-model steps done; `stage` 'upsample': stopped during the upsampler (after `upsampleStep` of its steps). */
  | { kind: 'cancelled'; runId: number; step: number; stage?: RunStage; upsampleStep?: number }
  | { kind: 'error'; runId: number; message: string }
  /** The GPU device is gone; the pack must be loaded again (the UI falls back to wasm). */
  | { kind: 'deviceLost'; message: string };

export type ToWorkerKind = ToWorker['kind'];
export type FromWorkerKind = FromWorker['kind'];

/** Compile-time exhaustiveness guard for `switch (msg.kind)`. */
export function assertNever(x: never): never {
  throw new Error(`unhandled message: ${JSON.stringify(x)}`);
}
