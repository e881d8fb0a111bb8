// The Trade-off view's read-outs, per group of cells (one scale each): the guidance classifier's mean
// log p of the class (fidelity) and precision/recall of the cells' classifier features against the
// pack's reference features of that class. Pure (tested with plain arrays).
import { pickRows, precisionRecall, softmaxRows } from '../../diffusion';

/** The pack's reference features (manifest referenceFeatures): [labels, images per label, dim], row-major. */
export interface ReferenceFeatureSet {
  data: Float32Array;
  shape: readonly [number, number, number];
}

/** Nearest neighbours for the balls (the paper's evaluator: k = 3). */
export const PR_K = 3;

/** Per group: mean over its cells of log softmax(logits)[label of the cell]. */
export function groupMeanLogp(logits: Float32Array, labels: Int32Array, groups: readonly number[][]): number[] {
  const k = labels.length;
  const classes = logits.length / k;
  const probs = softmaxRows(logits, classes);
  return groups.map((g) => g.reduce((s, i) => s + Math.log(probs[i * classes + labels[i]]), 0) / Math.max(1, g.length));
}

export interface GroupPr {
  precision: number[] | null;
  recall: number[] | null;
  /** Why precision and recall are missing (null when they are there). */
  prNote: string | null;
}

const none = (prNote: string): GroupPr => ({ precision: null, recall: null, prNote });

/**
 * Precision and recall of each group's features (rows of `features`, `cells` of them) against the
 * reference block of `label`; or a note saying why they cannot be measured.
 */
export function groupPrecisionRecall(
  features: Float32Array | null,
  cells: number,
  groups: readonly number[][],
  reference: ReferenceFeatureSet | null,
  label: number,
): GroupPr {
  if (!reference) return none('this pack carries no reference features (make-pack --data writes them), so only fidelity and diversity are shown');
  if (!features) return none("this pack's classifier graph has no features output, so its samples cannot be compared with the reference features");
  const [labels, perLabel, dim] = reference.shape;
  const got = features.length / cells;
  if (got !== dim) return none(`the reference features have ${dim} values per image but the classifier's features have ${got}`);
  if (!(label >= 0 && label < labels)) return none(`the reference features have no block for label ${label}`);
  const small = groups.find((g) => g.length <= PR_K);
  if (small) return none(`precision and recall need at least ${PR_K + 1} seeds per scale (k = ${PR_K} nearest neighbours)`);
  const real = reference.data.subarray(label * perLabel * dim, (label + 1) * perLabel * dim);
  const pr = groups.map((g) => precisionRecall(real, pickRows(features, dim, g), dim, PR_K));
  return { precision: pr.map((p) => p.precision), recall: pr.map((p) => p.recall), prNote: null };
}

/** Reference features from the bytes of the pack's file (float32, little-endian as every browser's typed arrays). */
export function referenceFromBytes(bytes: Uint8Array, shape: readonly [number, number, number]): ReferenceFeatureSet {
  const n = shape[0] * shape[1] * shape[2];
  if (bytes.length !== 4 * n) throw new Error(`reference features: ${bytes.length} bytes, expected ${4 * n}`);
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(bytes);
  for (const v of data) if (!Number.isFinite(v)) throw new Error('reference features: the file holds non-finite values');
  return { data, shape };
}
