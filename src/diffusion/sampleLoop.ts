// The sampling loop with guidance given as options (the worker's runner, the CLI, the cascade and the
// golden tests call it): builds the guided model (guided.ts) and runs the stepping loop (loop.ts) with it.
//
// Guidance per step: classifier guidance (scale s, the classifier's gradient at x_t) and classifier-free
// guidance (scale w, the U-Net once on N + M rows: see cfg.ts), both optional, both per sample, both
// only inside the guidance interval. A batch of K sweep cells can so carry K different (s, w) pairs.
import type { GuidanceScales } from './cfg';
import { guidedModel, type GuidanceOptions } from './guided';
import { checkShape, stepLoop, type StepLoopOptions, type StepRecord } from './loop';

/** The guided model's options (guided.ts), with the scales read either way, and the stepping loop's (loop.ts). */
export interface SampleOptions extends Omit<GuidanceOptions, 'getScales'>, Omit<StepLoopOptions, 'model'> {
  /**
   * Read at every step: one classifier scale for the batch; 0 skips the classifier call entirely.
   * Ignored when getScales is given (one of the two is required).
   */
  getClassifierScale?: () => number;
  /** As GuidanceOptions.getScales. */
  getScales?: () => GuidanceScales;
}

export async function* sampleLoop(opts: SampleOptions): AsyncGenerator<StepRecord, void, void> {
  checkShape(opts.shape);
  const { getScales, getClassifierScale } = opts;
  if (!getScales && !getClassifierScale) throw new Error('getScales or getClassifierScale is required');
  const model = guidedModel({
    ...opts,
    getScales: getScales ?? (() => ({ classifier: (getClassifierScale as () => number)(), cfg: 0 })),
  });
  yield* stepLoop({ ...opts, model });
}

/** Runs the loop to the end and returns the final x_0 (a fresh copy), or null if stopped early. */
export async function sampleToEnd(opts: SampleOptions, onStep?: (r: StepRecord) => void): Promise<Float32Array | null> {
  let last: StepRecord | null = null;
  for await (const r of sampleLoop(opts)) {
    onStep?.(r);
    last = r;
  }
  return last && last.step === last.numSteps - 1 ? last.x.slice() : null;
}
