// Input buffers (x, timesteps, labels) of a network call on some rows of a batch, kept per row count:
// the rows guided classifier-free or by the classifier change with the scales, and each count is
// allocated once, not at every step.

export interface RowBatch {
  x: Float32Array;
  t: Float32Array;
  y: Int32Array;
}

/** rows -> the buffers of a batch of `rows` samples of `plane` values each (the same ones on every call). */
export function rowBatches(plane: number): (rows: number) => RowBatch {
  const kept = new Map<number, RowBatch>();
  return (rows) => {
    let b = kept.get(rows);
    if (!b) kept.set(rows, (b = { x: new Float32Array(rows * plane), t: new Float32Array(rows), y: new Int32Array(rows) }));
    return b;
  };
}
