// The guided model of a step, as k-diffusion wraps a model: (x_t, step) -> what the step needs, the
// mean and variance of p(x_{t-1} | x_t) with guidance applied. Built from the U-Net wrapped for
// classifier-free guidance (cfgDenoiser.ts) and the classifier's shift (classifierGuide.ts); the scales
// are read once per step, per sample, and apply only inside the guidance interval. The stepping loop
// (loop.ts) knows nothing of guidance.
import { checkGuidanceInterval, inGuidanceInterval, scalesPerSample, type GuidanceInterval, type GuidanceScales } from './cfg';
import { cfgDenoiser } from './cfgDenoiser';
import { classifierGuide } from './classifierGuide';
import { checkFinite, type StepAt } from './finite';
import type { DiffusionProcess } from './process';
import { allocMeanVariance, pMeanVarianceInto, type MeanVariance } from './step';
import type { ClassifierGradFn, ClassifierGradResult, DenoiseFn, Shape4 } from './types';

/** The step the loop is at: its respaced index i (numSteps-1 ... 0) and where it is for messages. */
export interface StepContext extends StepAt {
  index: number;
}

export interface GuidedStep {
  /** p(x_{t-1} | x_t), guided. Owned by the model and overwritten by its next call. */
  mv: MeanVariance;
  /** The step's classifier read-outs (StepRecord's logp and grad): null when the classifier was not called. */
  logp: Float32Array | null;
  grad: Float32Array | null;
  /** Per-sample scales applied (0 where skipped): fresh arrays. */
  classifierScales: Float32Array;
  cfgScales: Float32Array;
  /** Rows of the U-Net batch: N plus one null-label row per sample guided classifier-free. */
  unetRows: number;
  /** The requested scales, for error messages. */
  scalesText: () => string;
}

/** A (possibly guided) model: called once per step with the step's input x_t. */
export type GuidedModel = (x: Float32Array, at: StepContext) => Promise<GuidedStep>;

export interface GuidanceOptions {
  process: DiffusionProcess;
  /** [N, 3, H, W]. */
  shape: Shape4;
  denoise: DenoiseFn;
  /** y for the U-Net (null: the U-Net has no class input). */
  unetLabels: Int32Array | null;
  /** Omitted: no guidance possible (the scale is then reported as 0). */
  classifierGrad?: ClassifierGradFn;
  /** Guidance targets in the classifier's label space; required with classifierGrad. */
  classifierLabels?: Int32Array;
  /**
   * Read at every step: the classifier scale s and the classifier-free scale w, each one number for the
   * batch or a Float32Array with one value per sample. A sample with s = 0 is not classifier-guided
   * and not fed to the classifier (which is not called when no sample needs it); a sample with w = 0
   * gets no null-label row.
   */
  getScales: () => GuidanceScales;
  /**
   * U-Net labels of the null branch (the pack's unconditionalLabel, one per sample); needs unetLabels.
   * Omitted: no classifier-free guidance possible (w is then reported as 0).
   */
  nullLabels?: Int32Array;
  /** Guide (both kinds) only at original timesteps lo <= t <= hi (default: every step). */
  guidanceInterval?: GuidanceInterval;
  useDdim: boolean;
  /** Clip predicted x_0 to [-1, 1] (default true, as in all the reference's scripts). */
  clipDenoised?: boolean;
  /**
   * Where the classifier gradient is taken for the ancestral (DDPM) step: 'x' (default) at the step's
   * input x_t with t, as the reference does; 'mean' at the unguided mean μ of p(x_{t-1} | x_t) with the
   * next step's timestep (openai/guided-diffusion issue #51, "a slight bug"). DDIM always takes the
   * score at x_t (paper Alg. 2), so this option does not change a DDIM step.
   */
  gradientAt?: 'x' | 'mean';
}

function checkLabels(labels: Int32Array | null | undefined, n: number, what: string): void {
  if (labels && labels.length !== n) throw new Error(`${what} has ${labels.length} entries for a batch of ${n}`);
}

export function guidedModel(o: GuidanceOptions): GuidedModel {
  const { process: p, shape } = o;
  const n = shape[0];
  checkLabels(o.unetLabels, n, 'unetLabels');
  if (o.classifierGrad && !o.classifierLabels) throw new Error('classifierLabels are required with classifierGrad');
  checkLabels(o.classifierLabels, n, 'classifierLabels');
  checkLabels(o.nullLabels, n, 'nullLabels');
  if (o.nullLabels && !o.unetLabels) throw new Error('nullLabels need a class-conditional U-Net (unetLabels)');
  if (o.guidanceInterval) checkGuidanceInterval(o.guidanceInterval);
  if (o.gradientAt !== undefined && o.gradientAt !== 'x' && o.gradientAt !== 'mean') {
    throw new Error(`gradientAt must be 'x' or 'mean' (got ${String(o.gradientAt)})`);
  }
  // DDIM always takes the score at x_t (paper Alg. 2): 'mean' changes only the ancestral step.
  const gradAtMean = o.gradientAt === 'mean' && !o.useDdim;
  const clip = o.clipDenoised ?? true;
  const unet = cfgDenoiser(o.denoise, shape, o.unetLabels, o.nullLabels ?? null);
  const classifier = o.classifierGrad && o.classifierLabels ? classifierGuide(p, o.classifierGrad, o.classifierLabels, shape, o.useDdim) : null;
  const mv = allocMeanVariance(n * shape[1] * shape[2] * shape[3]);
  const timesteps = new Float32Array(n);
  const gradTimesteps = new Float32Array(n);
  const requestedCls = new Float32Array(n);
  const requestedCfg = new Float32Array(n);

  return async (x, at) => {
    const { index: i, timestep } = at;
    // Networks see the ORIGINAL timestep (float32), the same one for the U-Net and the classifier.
    timesteps.fill(timestep);
    const sc = o.getScales();
    scalesPerSample(sc.classifier, requestedCls, 'classifier');
    scalesPerSample(sc.cfg, requestedCfg, 'cfg');
    const guide = inGuidanceInterval(timestep, o.guidanceInterval);
    const appliedCls = new Float32Array(n);
    const appliedCfg = new Float32Array(n);
    if (guide && o.nullLabels) appliedCfg.set(requestedCfg);
    let anyCls = false;
    if (guide && classifier) {
      appliedCls.set(requestedCls);
      anyCls = appliedCls.some((v) => v !== 0);
    }
    // The gradient at x_t (the reference's choice) does not depend on the U-Net's output, so it is
    // requested right after the U-Net, before either result is awaited: on WebGPU both graphs are
    // queued back to back and read back together; on wasm the session queue runs them in turn.
    const unetPending = unet(x, timesteps, appliedCfg);
    let gradPending: Promise<ClassifierGradResult> | null = null;
    if (anyCls && !gradAtMean) {
      gradPending = (classifier as NonNullable<typeof classifier>).grad(x, timesteps, appliedCls);
      gradPending.catch(() => undefined); // awaited below; a U-Net failure must not leave it unhandled
    }
    const { output, rows } = await unetPending;
    const scalesText = () => `classifier scale ${+requestedCls[0].toPrecision(6)}, classifier-free scale ${+requestedCfg[0].toPrecision(6)}`;
    checkFinite(output, 'unetOutput', at, scalesText);
    pMeanVarianceInto(p, output, x, i, shape, clip, mv);

    let logp: Float32Array | null = null;
    let grad: Float32Array | null = null;
    if (anyCls && classifier) {
      // Issue #51: the gradient at the mean μ, which estimates x_{t-1}, so with the next step's
      // timestep (0 after the last one).
      const g = await (gradPending ?? classifier.grad(mv.mean, gradTimesteps.fill(i > 0 ? p.timestepMap[i - 1] : 0), appliedCls));
      logp = g.logp;
      grad = g.grad;
      checkFinite(grad, 'classifierGrad', at, scalesText);
      classifier.apply(mv, x, i, grad, appliedCls);
    }
    return { mv, logp, grad, classifierScales: appliedCls, cfgScales: appliedCfg, unetRows: rows, scalesText };
  };
}
