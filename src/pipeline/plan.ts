// What a request becomes for the sampling loop: the plan that planRun (single image) and planGrid
// (sweep, diversity, trade-off cells) both return, and the validated part they share. Everything in
// a plan is checked: the worker's runner trusts it.
import type { DiffusionProcess, Shape4 } from '../diffusion';
import type { GuidanceMode } from '../shared/manifest';
import type { ModeUses } from './guidance';
import type { CascadeStage } from './stages';
import type { GradientAt, GridRequest, GuidanceInterval } from '../shared/protocol';

export interface RunPlan {
  process: DiffusionProcess;
  shape: Shape4;
  /** The pack label of each sample: the class asked for (the upsampler's labels too). */
  labels: Int32Array;
  unetLabels: Int32Array | null;
  /** null when the pack has no classifier or the mode does not use it (cfg). */
  classifierLabels: Int32Array | null;
  /** U-Net labels of the classifier-free null branch; null when the mode does not use it (classifier). */
  nullLabels: Int32Array | null;
  guidanceMode: GuidanceMode;
  /** Which guidance kinds the (single run's) mode uses: the live scales of a kind it does not use stay 0. */
  uses: ModeUses;
  /** null: guide at every step. */
  guidanceInterval: GuidanceInterval | null;
  useDdim: boolean;
  seed: number;
  /** One noise stream per cell (K = shape[0] seeds); a single run has [seed]. */
  seeds: number[];
  /** Fixed per-cell scales of a grid run; null for a single run (its scales may change mid-run). */
  cellScales: { classifier: Float32Array; cfg: Float32Array } | null;
  gradientAt: GradientAt;
  /** The cascade's second stage: single images of a pack with an upsampler, unless turned off; grids never. */
  cascade: CascadeStage | null;
  /** The grid request, validated; null for a single image. */
  grid: GridRequest | null;
}

/** What a grid plan shares with the single one: the validated, pack-wide part of the request. */
export interface BasePlan {
  /** The class in the pack's label space. */
  label: number;
  process: DiffusionProcess;
  guidanceInterval: GuidanceInterval | null;
  useDdim: boolean;
  gradientAt: GradientAt;
}
