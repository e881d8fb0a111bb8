// What the worker reports besides frames: stored packs and storage, load and import timings,
// recognised checkpoint files, the execution provider chosen, a grid's read-outs.
import type { Ep } from './params';

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
