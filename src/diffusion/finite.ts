// Refuses NaN and ±Infinity right where they appear in a step (a too large scale, a broken model):
// without this they would be clipped or turned into black pixels and the run would "succeed".

/** Where a step is, for error messages: "sampling step 3/25 (timestep 920)". */
export interface StepAt {
  /** Steps completed before this one. */
  done: number;
  numSteps: number;
  /** The original timestep the networks see. */
  timestep: number;
}

/** Which array of a step held NaN or ±Infinity. */
export type NonFiniteSource = 'unetOutput' | 'classifierGrad' | 'sample' | 'predXstart';

const NON_FINITE_WHAT: Record<NonFiniteSource, string> = {
  unetOutput: 'the U-Net output',
  classifierGrad: 'the classifier gradient',
  sample: 'the new sample',
  predXstart: 'the predicted x_0',
};

/** A step produced NaN or ±Infinity; `source` says where, so callers need not read the message. */
export class NonFiniteError extends Error {
  readonly source: NonFiniteSource;

  constructor(source: NonFiniteSource, message: string) {
    super(message);
    this.name = 'NonFiniteError';
    this.source = source;
  }
}

/** Throws a NonFiniteError naming the step, the array and `scales()` (the run's scales) unless `a` is all finite. */
export function checkFinite(a: Float32Array, source: NonFiniteSource, at: StepAt, scales: () => string): void {
  for (let k = 0; k < a.length; k++) {
    if (a[k] - a[k] === 0) continue; // finite (NaN - NaN and Inf - Inf are NaN)
    let bad = 0;
    for (let j = k; j < a.length; j++) if (a[j] - a[j] !== 0) bad++;
    throw new NonFiniteError(
      source,
      `sampling step ${at.done + 1}/${at.numSteps} (timestep ${at.timestep}): ${NON_FINITE_WHAT[source]} is not finite ` +
        `(${bad} of ${a.length} values NaN or ±Infinity, the first ${a[k]} at index ${k}; ${scales()})`,
    );
  }
}
