// Precision and recall of a sample set in a feature space (Kynkäänniemi et al. 2019), as the paper's
// evaluator and adm/metrics.py compute them: each point's ball has the radius of its k-th nearest
// neighbour in its own set (the point itself is the 0-th); precision = share of fake points inside
// some real ball, recall = share of real points inside some fake ball (distance <= radius).
// Pure maths over flat rows of `dim` values; squared distances in float64.

export interface PrecisionRecall {
  precision: number;
  recall: number;
}

/** Squared Euclidean distance of row i of a and row j of b. */
function sqDist(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  const oa = i * dim;
  const ob = j * dim;
  for (let k = 0; k < dim; k++) {
    const d = a[oa + k] - b[ob + k];
    s += d * d;
  }
  return s;
}

/** Squared distance of each row to its k-th nearest row of the same set (itself counted as the 0-th). */
export function kthNeighbourRadii(rows: Float32Array, dim: number, k: number): Float64Array {
  const n = rowCount(rows, dim, 'rows');
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new Error(`k = ${k} needs more than k points in a set (got ${n})`);
  const radii = new Float64Array(n);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) d[j] = i === j ? 0 : sqDist(rows, i, rows, j, dim);
    radii[i] = d.slice().sort()[k];
  }
  return radii;
}

/** Share of the rows of `points` inside some ball (center row, squared radius). */
function coverage(points: Float32Array, centers: Float32Array, radii: Float64Array, dim: number): number {
  const n = points.length / dim;
  let inside = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < radii.length; j++) {
      if (sqDist(points, i, centers, j, dim) <= radii[j]) {
        inside++;
        break;
      }
    }
  }
  return inside / n;
}

export function precisionRecall(real: Float32Array, fake: Float32Array, dim: number, k = 3): PrecisionRecall {
  rowCount(real, dim, 'real');
  rowCount(fake, dim, 'fake');
  return {
    precision: coverage(fake, real, kthNeighbourRadii(real, dim, k), dim),
    recall: coverage(real, fake, kthNeighbourRadii(fake, dim, k), dim),
  };
}

/** The rows of `data` at `rows`, packed into a fresh array. */
export function pickRows(data: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const n = rowCount(data, dim, 'data');
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= n) throw new Error(`row ${r} is outside 0..${n - 1}`);
    out.set(data.subarray(r * dim, (r + 1) * dim), i * dim);
  });
  return out;
}

function rowCount(data: Float32Array, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim < 1 || data.length === 0 || data.length % dim !== 0) {
    throw new Error(`${what} has ${data.length} values, not whole rows of ${dim}`);
  }
  return data.length / dim;
}
