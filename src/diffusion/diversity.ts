// Diversity of a set of samples: the mean distance over all pairs, in pixel space or in a
// classifier's output space. Pure maths over flat rows; `rows` picks which rows form the set.

/**
 * Mean over pairs {i, j} of rows of the root-mean-square difference sqrt(mean_k (a_k − b_k)²),
 * rows being `dim` consecutive values of `data`. For images in [−1, 1] ("pixel L2, RMS") this lies
 * in [0, 2]. Fewer than two rows: 0.
 */
export function meanPairwiseRms(data: Float32Array, dim: number, rows: readonly number[]): number {
  checkRows(data, dim, rows);
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < rows.length; a++) {
    for (let b = a + 1; b < rows.length; b++) {
      const oa = rows[a] * dim;
      const ob = rows[b] * dim;
      let sq = 0;
      for (let k = 0; k < dim; k++) {
        const d = data[oa + k] - data[ob + k];
        sq += d * d;
      }
      sum += Math.sqrt(sq / dim);
      pairs++;
    }
  }
  return pairs ? sum / pairs : 0;
}

/** Softmax of each row of `logits` (rows of `classes` values), into a fresh array. */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  if (!Number.isInteger(classes) || classes < 1 || logits.length % classes !== 0) {
    throw new Error(`logits have ${logits.length} values, not whole rows of ${classes}`);
  }
  const out = new Float32Array(logits.length);
  for (let o = 0; o < logits.length; o += classes) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[o + k]);
    let z = 0;
    for (let k = 0; k < classes; k++) z += (out[o + k] = Math.exp(logits[o + k] - max));
    for (let k = 0; k < classes; k++) out[o + k] /= z;
  }
  return out;
}

/** Mean over pairs of rows of the Euclidean distance ‖a − b‖₂ (e.g. softmax vectors: in [0, √2]). */
export function meanPairwiseL2(data: Float32Array, dim: number, rows: readonly number[]): number {
  // RMS times sqrt(dim) is the plain L2 distance of each pair.
  return meanPairwiseRms(data, dim, rows) * Math.sqrt(dim);
}

function checkRows(data: Float32Array, dim: number, rows: readonly number[]): void {
  if (!Number.isInteger(dim) || dim < 1 || data.length % dim !== 0) throw new Error(`data has ${data.length} values, not whole rows of ${dim}`);
  const n = data.length / dim;
  for (const r of rows) if (!Number.isInteger(r) || r < 0 || r >= n) throw new Error(`row ${r} is outside 0..${n - 1}`);
}
