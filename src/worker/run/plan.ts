// What a request becomes for the sampling loop: the plan that planRun (single image) and planGrid
// (sweep, diversity, trade-off cells) both return, and the validated part they share.
import type { DiffusionProcess, Shape4 } from '../../diffusion';
import type { GuidanceMode } from '../../shared/manifest';
import type { GradientAt, GridRequest, GuidanceInterval } from '../../shared/protocol';

export interface RunPlan {
  process: DiffusionProcess;
  shape: Shape4;
  unetLabels: Int32Array | null;
  /** null when the pack has no classifier or the mode does not use it (cfg). */
  classifierLabels: Int32Array | null;
  /** U-Net labels of the classifier-free null branch; null when the mode does not use it (classifier). */
  nullLabels: Int32Array | null;
  guidanceMode: GuidanceMode;
  /** null: guide at every step. */
  guidanceInterval: GuidanceInterval | null;
  useDdim: boolean;
  seed: number;
  /** One noise stream per cell (K = shape[0] seeds); a single run has [seed]. */
  seeds: number[];
  /** Fixed per-cell scales of a grid run; null for a single run (its scales may change mid-run). */
  cellScales: { classifier: Float32Array; cfg: Float32Array } | null;
  gradientAt: GradientAt;
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
