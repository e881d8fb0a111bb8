// Classifier guidance around the model's p(x_{t-1} | x_t): the classifier's gradient for the samples
// with a non-zero scale s (only those go through the gradient graph; a sweep's scale-0 and
// classifier-free cells cost nothing there), and the shift it makes: the mean (DDPM, paper Alg. 1) or
// the score (DDIM, Alg. 2), for the whole batch at once or each sample on its own slice.
import type { DiffusionProcess } from './process';
import { rowBatches } from './rowBatch';
import { conditionMean, conditionScore, type MeanVariance } from './step';
import type { ClassifierGradFn, ClassifierGradResult, Shape4 } from './types';

export interface ClassifierGuide {
  /** ∇ log p(y | x, t) and log p per sample; zero gradient and NaN log p for samples with scale 0. */
  grad(x: Float32Array, timesteps: Float32Array, scales: Float32Array): Promise<ClassifierGradResult>;
  /** Shifts `mv` (computed from x_t at respaced index i) by scales[s] · grad for each sample. */
  apply(mv: MeanVariance, x: Float32Array, i: number, grad: Float32Array, scales: Float32Array): void;
}

/** Views of samples [from, to) of a MeanVariance (for guiding some samples of a batch and not others). */
function sampleView(mv: MeanVariance, from: number, to: number): MeanVariance {
  return {
    mean: mv.mean.subarray(from, to),
    variance: mv.variance.subarray(from, to),
    logVariance: mv.logVariance.subarray(from, to),
    predXstart: mv.predXstart.subarray(from, to),
  };
}

export function classifierGuide(p: DiffusionProcess, classifierGrad: ClassifierGradFn, labels: Int32Array, shape: Shape4, useDdim: boolean): ClassifierGuide {
  const [n, c, h, w] = shape;
  const plane = c * h * w;
  const size = n * plane;
  const batch = rowBatches(plane);
  let full: Float32Array | null = null;
  let views: MeanVariance[] | null = null;
  let viewsOf: MeanVariance | null = null;

  async function grad(gx: Float32Array, gt: Float32Array, scales: Float32Array): Promise<ClassifierGradResult> {
    let guidedRows = 0;
    for (let s = 0; s < n; s++) if (scales[s] !== 0) guidedRows++;
    if (guidedRows === n) {
      const g = await classifierGrad(gx, gt, labels, shape);
      if (g.grad.length !== size) throw new Error(`classifier gradient has ${g.grad.length} values, expected ${size}`);
      return g;
    }
    const b = batch(guidedRows);
    for (let s = 0, r = 0; s < n; s++) {
      if (scales[s] === 0) continue;
      b.x.set(gx.subarray(s * plane, (s + 1) * plane), r * plane);
      b.t[r] = gt[s];
      b.y[r++] = labels[s];
    }
    const g = await classifierGrad(b.x, b.t, b.y, [guidedRows, c, h, w]);
    if (g.grad.length !== guidedRows * plane) {
      throw new Error(`classifier gradient has ${g.grad.length} values, expected ${guidedRows * plane} (${guidedRows} guided rows)`);
    }
    const out = (full ??= new Float32Array(size)).fill(0);
    const lp = new Float32Array(n).fill(NaN);
    for (let s = 0, r = 0; s < n; s++) {
      if (scales[s] === 0) continue;
      out.set(g.grad.subarray(r * plane, (r + 1) * plane), s * plane);
      lp[s] = g.logp[r++];
    }
    return { grad: out, logp: lp };
  }

  function apply(mv: MeanVariance, x: Float32Array, i: number, g: Float32Array, scales: Float32Array): void {
    if (scales.every((v) => v === scales[0])) {
      if (useDdim) conditionScore(p, mv, x, i, g, scales[0]);
      else conditionMean(mv, g, scales[0]);
      return;
    }
    // Per-sample scales: guide each sample on its own slice; samples at 0 keep the unguided step exactly.
    if (viewsOf !== mv) views = Array.from({ length: n }, (_, s) => sampleView((viewsOf = mv), s * plane, (s + 1) * plane));
    for (let s = 0; s < n; s++) {
      if (scales[s] === 0) continue;
      const gs = g.subarray(s * plane, (s + 1) * plane);
      if (useDdim) conditionScore(p, (views as MeanVariance[])[s], x.subarray(s * plane, (s + 1) * plane), i, gs, scales[s]);
      else conditionMean((views as MeanVariance[])[s], gs, scales[s]);
    }
  }

  return { grad, apply };
}
