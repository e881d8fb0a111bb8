// What fixes one run: the generation parameters, grid requests, and the app's limits and defaults
// (the URL parser, the controls, the planner and the worker all check against LIMITS).
import { MANIFEST_LIMITS } from './manifest';
import type { GuidanceMode } from './manifest';

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
