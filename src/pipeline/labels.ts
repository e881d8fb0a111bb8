// Which labels each network gets, per sample (one rule for single runs, grid cells and CLI batches):
// class index -> pack label; the U-Net's labels (the class, or the pack's null label when sampling
// unconditionally); the classifier's targets; the null labels of classifier-free guidance.
import { labelOfImagenetIndex, modeUses, type GuidanceMode, type PackManifest } from '../shared/manifest';

/** The pack label (classifier logit index) of an ImageNet class; refuses a class the pack does not know. */
export function packLabel(m: PackManifest, imagenetClass: number): number {
  const label = labelOfImagenetIndex(m, imagenetClass);
  if (label < 0) throw new Error(`pack "${m.name}" does not know ImageNet class ${imagenetClass}`);
  return label;
}

export interface RowLabels {
  /** null: the U-Net has no class input. */
  unetLabels: Int32Array | null;
  /** null: no classifier, or no sample uses it (and no read-out wants targets). */
  classifierLabels: Int32Array | null;
  /** The classifier-free null branch's U-Net labels; null when no sample uses classifier-free guidance. */
  nullLabels: Int32Array | null;
}

export interface RowLabelOptions {
  /** Condition the U-Net on the class (else on the null label); classifier-free rows always are. */
  conditionUnet: boolean;
  /** Classifier targets for every row (a grid's read-out scores every cell), not only classifier-guided ones. */
  readout?: boolean;
}

/**
 * Labels of a batch whose sample s has pack label labels[s] (null: no class was given, which only an
 * unconditional, unguided run allows) and guidance mode modes[s]. The modes are already checked
 * against the pack (checkModeForPack).
 */
export function rowLabels(m: PackManifest, labels: Int32Array | null, modes: readonly GuidanceMode[], o: RowLabelOptions): RowLabels {
  const n = modes.length;
  if (labels && labels.length !== n) throw new Error(`${labels.length} labels for ${n} samples`);
  const uses = modes.map(modeUses);
  let unetLabels: Int32Array | null = null;
  if (m.classCond) {
    unetLabels = new Int32Array(n);
    for (let s = 0; s < n; s++) {
      // Classifier-free guidance always conditions its first branch on the class.
      if ((o.conditionUnet || uses[s].cfg) && labels) unetLabels[s] = labels[s];
      else if (o.conditionUnet || uses[s].cfg) throw new Error(`pack "${m.name}" is class-conditional: a class is required`);
      else if (m.unconditionalLabel !== null) unetLabels[s] = m.unconditionalLabel;
      else throw new Error(`pack "${m.name}" cannot sample unconditionally (it has no unconditional label)`);
    }
  }
  const wantTargets = o.readout || uses.some((u) => u.classifier);
  const anyCfg = uses.some((u) => u.cfg);
  return {
    unetLabels,
    classifierLabels: m.classifierGrad && labels && wantTargets ? Int32Array.from(labels) : null,
    // checkModeForPack has refused classifier-free guidance without a null label.
    nullLabels: anyCfg ? new Int32Array(n).fill(m.unconditionalLabel as number) : null,
  };
}
