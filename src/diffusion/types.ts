// Contracts of the pure sampling layer. The worker (onnxruntime-web), the Node CLI
// (onnxruntime-node) and the tests (fakes) all plug into these same function types.

/** NCHW shape of a batch: [N, C, H, W]. */
export type Shape4 = readonly [number, number, number, number];

/**
 * One U-Net evaluation. `timesteps` are ORIGINAL-scale timesteps (timestepMap[i]), one per sample.
 * `y` holds the U-Net's class labels (null for a U-Net without class input).
 * Returns model_output, [N, 6, H, W] with learned sigma (eps then v), else [N, 3, H, W].
 */
export type DenoiseFn = (x: Float32Array, timesteps: Float32Array, y: Int32Array | null, shape: Shape4) => Promise<Float32Array>;

/** ∇ₓ Σᵢ log p(yᵢ | xᵢ, tᵢ) (NOT scaled) and log p(yᵢ | xᵢ, tᵢ) per sample. */
export interface ClassifierGradResult {
  grad: Float32Array;
  logp: Float32Array;
}
export type ClassifierGradFn = (x: Float32Array, timesteps: Float32Array, y: Int32Array, shape: Shape4) => Promise<ClassifierGradResult>;

export type ModelVarType = 'learnedRange' | 'fixedSmall' | 'fixedLarge';
