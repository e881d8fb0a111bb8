// The one message protocol between the UI (main thread) and the sampling worker.
// Both ends switch on `kind` exhaustively (see assertNever). Run-scoped messages carry the
// `runId` the UI chose, pack loads carry a `loadId`; the UI drops anything with a stale id.
import { MANIFEST_LIMITS, type GuidanceMode, type PackManifest } from './manifest';

export type { GuidanceMode } from './manifest';

/** Original timesteps [lo, hi] (inclusive) where guidance is applied; null: every step. */
export type GuidanceInterval = readonly [number, number];

/** Execution provider. `auto` lets the worker decide (WebGPU on a hardware adapter, else wasm). */
export type EpChoice = 'auto' | 'webgpu' | 'wasm';
export type Ep = 'webgpu' | 'wasm';

/** Which image a preview frame shows: the noisy sample x_t or the model's predicted x_0. */
export type PreviewOf = 'x' | 'predX0';
export type Sampler = 'ddpm' | 'ddim';

/**
 * The app's views: one image, a sweep of guidance scales, grids of seeds at two scales, or seeds at
 * several scales with fidelity, diversity, precision and recall per scale (the trade-off).
 */
export type View = 'single' | 'sweep' | 'diversity' | 'tradeoff';

/**
 * Where the classifier gradient is taken in an ancestral (DDPM) step: at x_t (the reference) or at
 * the unguided mean μ (openai/guided-diffusion issue #51). DDIM always takes it at x_t.
 */
export type GradientAt = 'x' | 'mean';

/** One cell of a grid run: its own noise stream and its own guidance. */
export interface GridCell {
  /** Seed of the cell's stream (x_T and step noise); cells with one seed start from the same noise. */
  seed: number;
  guidanceMode: GuidanceMode;
  classifierScale: number;
  cfgScale: number;
}

/**
 * K cells sampled together as ONE batch: one U-Net call (K rows plus a null-label row per cell with a
 * non-zero CFG scale) and at most one classifier-gradient call (K rows) per step.
 */
export interface GridRequest {
  view: Exclude<View, 'single'>;
  cells: GridCell[];
  /** Sets of cells (indices) whose diversity is read out, e.g. the two grids of the diversity view. */
  groups: number[][];
}

/** Everything that fixes one sample. Same params + same pack + same seed = same image. */
export interface GenerateParams {
  /** ImageNet-1k index (0..999); the worker maps it to the pack's label space. */
  imagenetClass: number;
  classifierScale: number;
  /** Number of sampling steps (evenly respaced over the pack's diffusion steps). */
  steps: number;
  sampler: Sampler;
  seed: number;
  /**
   * false: the U-Net gets the pack's unconditionalLabel and only the classifier steers. Classifier mode
   * only: with classifier-free guidance the conditional branch always gets the class.
   */
  conditionUnet: boolean;
  previewOf: PreviewOf;
  /** Absent: 'classifier' (the scale above). 'cfg' and 'both' need a pack with an unconditionalLabel. */
  guidanceMode?: GuidanceMode;
  /** Classifier-free guidance scale w (used by 'cfg' and 'both'; absent: 0). */
  cfgScale?: number;
  /** Guide only for original timesteps lo <= t <= hi (absent or null: every step). */
  guidanceInterval?: GuidanceInterval | null;
  /** Absent: 'x' (the reference). */
  gradientAt?: GradientAt;
  /**
   * A grid run: the cells override seed, guidance mode and scales; class, steps, sampler, conditioning,
   * preview, interval and gradientAt above apply to every cell. Absent or null: one image.
   */
  grid?: GridRequest | null;
  /**
   * Run the pack's upsampler (manifest `upsampler`, the cascade's second stage) after the base model:
   * single images only (grid runs stop after the base model). Absent: true; ignored without an upsampler.
   */
  upsample?: boolean;
}

/** Which model a single run's frame comes from: the base model, or the cascade's upsampler after it. */
export type RunStage = 'base' | 'upsample';

/** A pack kept in this browser's storage (the Origin Private File System), as listed in the UI. */
export interface StoredPackInfo {
  /** Opaque id of the stored pack, for `deleteStored`. */
  key: string;
  packUrl: string;
  name: string;
  title: string;
  /** Bytes on disk: its complete files plus the parts of interrupted downloads. */
  bytes: number;
  /** Bytes once every file it holds is complete. */
  totalBytes: number;
  complete: boolean;
}

/** What the page measured with StorageManager (estimate() and persist()); null where unknown. */
export interface StorageEstimateInfo {
  usage: number | null;
  quota: number | null;
  /** persist() granted: the browser will not evict stored packs under storage pressure. */
  persisted: boolean | null;
}

/** Where the time of one pack load went, in ms (the worker also logs it to the console). */
export interface LoadTimings {
  manifestMs: number;
  /** Wall time from the first model file to the last one in memory (the phases below overlap in it). */
  filesMs: number;
  /** Waiting for the network: requests and body reads. */
  fetchMs: number;
  /**
   * What hashing added to the load: waiting for the SHA-256 of downloaded files, which a hashing
   * thread computes while they stream in and while the sessions are created (any wait while it fell
   * too far behind, and for digests still missing once the sessions exist).
   */
  hashMs: number;
  /** The hashing thread's own time (overlapped with the downloads). */
  hashThreadMs: number;
  /** Writing downloaded bytes to storage (and the resume checkpoints). */
  storeMs: number;
  /** Reading stored files into memory. */
  readMs: number;
  /**
   * ONNX Runtime's one-time start-up (compiling its WebAssembly, starting threads, the WebGPU
   * device): started with the load, so it overlaps the downloads; 0 once the worker has it.
   */
  runtimeMs: number;
  /** ONNX Runtime session creation of the pack's graphs (after any wait for the start-up). */
  sessionMs: number;
  warmupMs: number;
  totalMs: number;
  fetchedBytes: number;
  readBytes: number;
  manifestFrom: 'network' | 'storage';
  /** Where model files are kept: OPFS, the Cache API (no OPFS), or nowhere. */
  storage: 'opfs' | 'cache' | 'none';
}

/** What a load is doing once the files are in memory, or that it waits for another tab (the status line says it). */
export type LoadStage = 'waiting' | 'sessions' | 'warmup';

/** What a checkpoint import is doing (progress messages); 'download': a file given by URL. */
export type ImportPhase = 'download' | 'filling' | 'storing';

/** Where the time of one checkpoint import went, in ms, and its memory (the largest buffer it held). */
export interface ImportTimings {
  /** Reading each file's zip directory and data.pkl (src/checkpoint's index). */
  indexMs: number;
  /** Reading tensor records from the files (with their CRC-32 check). */
  readMs: number;
  /** Writing tensors into the data-file buffers (the fp16 cast included). */
  fillMs: number;
  /** SHA-256 of each filled data file: the hashing thread's own time where there is one (it overlaps the fill). */
  hashMs: number;
  /** Time the import waited for digests (all of hashMs when hashing inline; the thread's lag otherwise). */
  hashWaitMs: number;
  /** Downloading the files given by URL (0 for opened files). */
  downloadMs: number;
  /** Writing the graphs and data files to storage, and the pack record. */
  storeMs: number;
  totalMs: number;
  /** Bytes of external data built (all graphs). */
  weightBytes: number;
  /** The largest data-file buffer held at once (the import's peak memory, besides one tensor). */
  largestBuffer: number;
}

/** One recognised checkpoint file: its slot and the line the page shows. */
export interface RecognisedFile {
  name: string;
  slot: 'unet' | 'classifier' | 'upsampler';
  /** "64x64_diffusion.pt: ImageNet 64×64 class-conditional U-Net, 296M parameters". */
  description: string;
}

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

/** How the worker will run models, decided once per load. */
export interface EpInfo {
  ep: Ep;
  /** Human-readable reason for the choice, e.g. "WebGPU adapter is a software fallback (SwiftShader)". */
  reason: string;
  adapter: string | null;
  /** The U-Net in use is the fp16 variant (needs WebGPU + shader-f16 + a unetFp16 graph). */
  fp16: boolean;
  wasmThreads: number;
  /**
   * Why a graph other than the preferred one is used (e.g. the fp16 file is over a limit), or why the
   * gradient graph runs in the U-Net's instance after all; absent: none.
   */
  fileNote?: string | null;
  /** wasm: the classifier gradient runs in a worker and ORT instance of its own with this many threads; absent or null: beside the U-Net. */
  gradientWorkerThreads?: number | null;
  /** WebGPU: the graphs' inputs and outputs live in GPU buffers, each input uploaded once per step (absent: false). */
  gpuResidentIo?: boolean;
}

/** Read-outs of a grid run's final samples (message 'gridReadout'; the UI store keeps them as they are). */
export interface GridReadout {
  /** Per group: mean pairwise pixel L2 (RMS over the values in [-1, 1]) of the final samples. */
  pixelL2: number[];
  /**
   * Per group: mean pairwise L2 distance of the guidance classifier's softmax vectors of the final
   * samples (at t = 0); null when the pack has no classifier.
   */
  classifierL2: number[] | null;
  /** Per cell: the classifier's log p(y | x_0) of the final sample (t = 0); null without a classifier. */
  logp: number[] | null;
  /**
   * Trade-off view: per group, precision and recall of the final samples' classifier features
   * (t = 0) against the pack's reference features of the class (k = 3); null, with `prNote`
   * saying why, where they cannot be measured. Absent in the other views.
   */
  precision?: number[] | null;
  recall?: number[] | null;
  prNote?: string | null;
}

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

/** Limits shared by the URL parser, the controls and the worker's own validation. */
export const LIMITS = {
  classifierScale: { min: 0, max: 20, step: 0.5 },
  cfgScale: { min: 0, max: 20, step: 0.25 },
  /** Original timesteps (0..T-1) for the guidance interval. */
  guidanceInterval: { min: 0, max: MANIFEST_LIMITS.maxDiffusionSteps - 1 },
  steps: { min: 1, max: 1000 },
  seed: { min: 0, max: 0xffffffff },
  imagenetClass: { min: 0, max: 999 },
  /** Cells of one grid run (the batch is up to twice that with classifier-free rows). */
  gridCells: { min: 1, max: 32 },
  /** Scales per sweep row. */
  sweepScales: { min: 1, max: 8 },
  /** Seeds per diversity grid. */
  diversitySeeds: { min: 2, max: 12 },
  /** Trade-off view: scales, and seeds per scale (k = 3 nearest neighbours need at least 4); 5 x 6 cells at most. */
  tradeoffScales: { min: 2, max: 5 },
  tradeoffSeeds: { min: 4, max: 6 },
} as const;

/** One place for the app's fallback defaults (a pack's manifest may recommend others). */
export const DEFAULTS = {
  classifierScale: 4,
  guidanceMode: 'classifier',
  cfgScale: 3,
  steps: 25,
  sampler: 'ddim',
  seed: 0,
  conditionUnet: true,
  previewOf: 'predX0',
  gradientAt: 'x',
} as const satisfies Partial<GenerateParams>;

/** Default grids of the sweep and diversity views. */
export const GRID_DEFAULTS = {
  sweepScales: [0, 1, 2, 4, 8, 16],
  sweepCfgScales: [0, 1, 2, 3, 5, 8],
  diversityScales: [0, 8],
  diversitySeeds: 8,
  /** Until a pack recommends a scale (then 0, s/2, s, 2s of its recommended scale). */
  tradeoffScales: [0, 2, 4, 8],
  tradeoffSeeds: 6,
} as const;
