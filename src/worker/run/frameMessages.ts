// The per-step messages of a run, built from the loop's StepRecord: a single image with its
// guidance instruments, or all cells of a grid in one transferred buffer. Pure (no ORT, no DOM).
import { guidanceHeatInto, meanPairwiseL2, meanPairwiseRms, sampleL2Norm, softmaxRows, toRgba, type Shape4, type StepRecord } from '../../diffusion';
import type { FromWorker, PreviewOf } from '../../shared/protocol';
import type { RunPlan } from '../../pipeline';
import type { GroupPr } from './tradeoff';

export interface Outgoing {
  msg: FromWorker;
  transfer: Transferable[];
}

const owned = (b: ArrayBufferLike): ArrayBuffer => {
  if (!(b instanceof ArrayBuffer)) throw new Error('frame buffer is not transferable');
  return b;
};

export function singleFrame(runId: number, rec: StepRecord, plan: RunPlan, previewOf: PreviewOf): Outgoing {
  const [, , height, width] = plan.shape;
  const rgba = owned(toRgba(previewOf === 'x' ? rec.x : rec.predXstart, plan.shape, 0).buffer);
  const transfer: ArrayBuffer[] = [rgba];
  let heat: ArrayBuffer | null = null;
  let heatMax = 0;
  let gradNorm: number | null = null;
  if (rec.grad) {
    const h = new Float32Array(height * width);
    heatMax = guidanceHeatInto(rec.grad, rec.variance, rec.classifierScales[0], plan.shape, 0, h);
    gradNorm = sampleL2Norm(rec.grad, plan.shape, 0);
    heat = owned(h.buffer);
    transfer.push(heat);
  }
  return {
    msg: {
      kind: 'frame', runId, stage: 'base', step: rec.step + 1, numSteps: rec.numSteps, timestep: rec.timestep, width, height, rgba,
      logp: rec.logp ? rec.logp[0] : null, classifierScale: rec.classifierScale, cfgScale: rec.cfgScale,
      gradNorm, heat, heatMax,
    },
    transfer,
  };
}

/** `groupLogp`: the Trade-off view's per-group mean log p(y | x̂₀) of this step (tradeoff.ts). */
export function gridFrame(runId: number, rec: StepRecord, plan: RunPlan, previewOf: PreviewOf, groupLogp: number[] | null = null): Outgoing {
  const [k, c, height, width] = plan.shape;
  const tile = height * width * 4;
  const all = new Uint8ClampedArray(k * tile);
  const shown = previewOf === 'x' ? rec.x : rec.predXstart;
  for (let s = 0; s < k; s++) all.set(toRgba(shown, plan.shape, s), s * tile);
  const groups = plan.grid?.groups ?? [];
  const rgba = owned(all.buffer);
  return {
    msg: {
      kind: 'gridFrame', runId, step: rec.step + 1, numSteps: rec.numSteps, timestep: rec.timestep, width, height, cells: k, rgba,
      // NaN: a cell the classifier did not see at this step (not classifier-guided).
      logp: rec.logp ? Array.from(rec.logp, (v) => (Number.isNaN(v) ? null : v)) : null,
      pixelDiversity: groups.map((g) => meanPairwiseRms(rec.predXstart, c * height * width, g)),
      ...(groupLogp ? { groupLogp } : {}),
    },
    transfer: [rgba],
  };
}

/**
 * Read-out of the final samples: per group, pixel L2 (RMS) and, given the classifier's logits at t = 0,
 * its softmax L2; per cell, log p(y | x_0) of the requested class (every cell, guided or not); and
 * the Trade-off view's precision and recall per group (`pr`).
 */
export function gridReadout(runId: number, finalX: Float32Array, plan: RunPlan, logits: Float32Array | null, pr: GroupPr | null = null): Outgoing {
  const [k, c, h, w] = plan.shape;
  const groups = plan.grid?.groups ?? [];
  let classifierL2: number[] | null = null;
  let logp: number[] | null = null;
  if (logits) {
    const classes = logits.length / k;
    const probs = softmaxRows(logits, classes);
    classifierL2 = groups.map((g) => meanPairwiseL2(probs, classes, g));
    const labels = plan.classifierLabels;
    if (labels) logp = Array.from({ length: k }, (_, s) => Math.log(probs[s * classes + labels[s]]));
  }
  return {
    msg: { kind: 'gridReadout', runId, pixelL2: groups.map((g) => meanPairwiseRms(finalX, c * h * w, g)), classifierL2, logp, ...(pr ?? {}) },
    transfer: [],
  };
}

/** A frame of the cascade's upsample stage: the upsampler's image (shape [1, 3, S, S]), no guidance instruments. */
export function upsampleFrame(runId: number, rec: StepRecord, shape: Shape4, previewOf: PreviewOf): Outgoing {
  const [, , height, width] = shape;
  const rgba = owned(toRgba(previewOf === 'x' ? rec.x : rec.predXstart, shape, 0).buffer);
  return {
    msg: {
      kind: 'frame', runId, stage: 'upsample', step: rec.step + 1, numSteps: rec.numSteps, timestep: rec.timestep, width, height, rgba,
      logp: null, classifierScale: 0, cfgScale: 0, gradNorm: null, heat: null, heatMax: 0,
    },
    transfer: [rgba],
  };
}
