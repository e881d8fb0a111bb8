// The pack manifest's types and names (docs/pack-format.md; its field rules are docs/pack-manifest.schema.json,
// checked by parseManifest in ./manifestCheck). Pure: no DOM, no onnxruntime.
import type { UpsamplerSpec } from '../diffusion/cascade';
import type { DiffusionSpec } from '../diffusion/process';
import type { NoiseSchedule } from '../diffusion/schedule';

export type { DiffusionSpec, NoiseSchedule };

export const MANIFEST_SCHEMA_VERSION = 1;

/**
 * File names a manifest may give: one plain name inside the pack folder (no path, no scheme; the schema's
 * fileName also refuses ".." and more than 200 characters). tests/unit/app/manifestSchema.test.ts holds
 * this and MANIFEST_LIMITS to the schema, which owns them; they are here for code that must not load it.
 */
export const PACK_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Bounds beyond which a pack is refused at load rather than failing (or exhausting memory) later. */
export const MANIFEST_LIMITS = {
  /** ImageNet-1k: labels are indices 0..999, at most one model label per class. */
  imagenetClasses: 1000,
  maxImageSize: 1024,
  maxDiffusionSteps: 10000,
  maxFileNameLength: 200,
  /** External-data files of one graph entry. */
  maxExternalDataFiles: 16,
  /** manifest.json itself (a real one has a few KB): bigger files are refused unread (src/shared/jsonLimits.ts). */
  maxManifestBytes: 64 * 1024 * 1024,
  /** Arrays/objects nested deeper than this in manifest.json are refused before parsing (a real one nests 4). */
  maxJsonDepth: 64,
  /**
   * JSON values (numbers, strings, list items, fields...) in a manifest: a real one has about 1.1 per label
   * (1000 at most). Checked before the schema, whose validators list every error: millions of bad labels
   * would exhaust memory, and thousands are worded in milliseconds each.
   */
  maxJsonValues: 10_000,
  /** referenceFeatures: a few hundred feature vectors, at most 1 MiB of float32. */
  maxReferenceFeatureBytes: 1 << 20,
  /** referenceFeatures images per label: precision/recall's k = 3 needs more than 3 points per set. */
  minReferencePerLabel: 4,
} as const;

/**
 * The ONNX graphs' input and output names (docs/pack-format.md): the one spelling used by the manifest
 * check below, the worker's sessions, the bench worker and the Node tools. `names` are the feed / fetch
 * names; each graph lists the inputs it must take (by class conditioning) and the outputs it must give.
 */
const IO_NAMES = {
  x: 'x', timesteps: 'timesteps', y: 'y', lowRes: 'low_res', modelOutput: 'model_output', grad: 'grad', logp: 'logp', logits: 'logits',
  /** Optional output of the classifier-gradient graph: the classifier's penultimate features [N, C]. */
  features: 'features',
} as const;

export type GraphIoName = (typeof IO_NAMES)[keyof typeof IO_NAMES];

export interface GraphIoSpec {
  inputs(classCond: boolean): readonly GraphIoName[];
  outputs: readonly GraphIoName[];
}

const N = IO_NAMES;
export const GRAPH_IO: {
  readonly names: typeof IO_NAMES;
  /** The base U-Net (and its fp16 twin): y only when class-conditional. */
  readonly unet: GraphIoSpec;
  /** The classifier-gradient graph: always takes y; grad = d log p(y|x_t) / dx_t. */
  readonly classifierGrad: GraphIoSpec;
  /** The cascade's super-resolution U-Net: low_res always, y only when class-conditional. */
  readonly upsampler: GraphIoSpec;
} = {
  names: IO_NAMES,
  unet: { inputs: (classCond) => (classCond ? [N.x, N.timesteps, N.y] : [N.x, N.timesteps]), outputs: [N.modelOutput] },
  classifierGrad: { inputs: () => [N.x, N.timesteps, N.y], outputs: [N.grad, N.logp, N.logits] },
  upsampler: {
    inputs: (classCond) => (classCond ? [N.x, N.timesteps, N.lowRes, N.y] : [N.x, N.timesteps, N.lowRes]),
    outputs: [N.modelOutput],
  },
};

/**
 * What steers sampling: the classifier's gradient (Dhariwal & Nichol), classifier-free guidance
 * (Ho & Salimans: the U-Net with and without the class), or both at once.
 */
export type GuidanceMode = 'classifier' | 'cfg' | 'both';
export const GUIDANCE_MODES: readonly GuidanceMode[] = ['classifier', 'cfg', 'both'];

/** Which scales a mode uses. */
export function modeUses(mode: GuidanceMode): { classifier: boolean; cfg: boolean } {
  return { classifier: mode !== 'cfg', cfg: mode !== 'classifier' };
}

/** A file that holds (part of) a graph's weights (ONNX external data), beside the graph in the pack. */
export interface ExternalDataFile {
  file: string;
  bytes: number;
  sha256: string;
}

export interface GraphFile {
  file: string;
  dtype: 'float32' | 'float16';
  bytes: number;
  sha256: string;
  inputs: string[];
  outputs: string[];
  /** The graph's external-data files (absent: the .onnx file is self-contained). */
  externalData?: ExternalDataFile[];
}

/** The cascade's second stage (src/diffusion/cascade.ts says what it is) with its graph file. */
export interface UpsamplerGraph extends GraphFile, UpsamplerSpec {}

/**
 * The classifier's penultimate features (the gradient graph's "features" output) of real images: float32,
 * little-endian, [labels, images per label, feature size] in label order (docs/pack-format.md).
 */
export interface ReferenceFeatures {
  file: string;
  dtype: 'float32';
  shape: [number, number, number];
  bytes: number;
  sha256: string;
  /** The timestep the classifier was given (0: clean images). */
  timestep: number;
}

export interface PackManifest {
  schemaVersion: 1;
  name: string;
  title: string;
  imageSize: number;
  learnSigma: boolean;
  classCond: boolean;
  unconditionalLabel: number | null;
  labels: number[];
  diffusion: DiffusionSpec;
  sampling: {
    classifierScale: number;
    timestepRespacing: string;
    useDdim: boolean;
    /** Recommended guidance mode (absent: classifier); cfg and both need an unconditionalLabel. */
    guidanceMode?: GuidanceMode;
    /** Recommended classifier-free guidance scale w. */
    cfgScale?: number;
  };
  unet: GraphFile;
  unetFp16?: GraphFile;
  classifierGrad?: GraphFile;
  upsampler?: UpsamplerGraph;
  /** Reference features for precision/recall of samples (the Trade-off view); absent: none. */
  referenceFeatures?: ReferenceFeatures;
  source: string;
  license: string;
}

/** Classifier-free guidance needs a class-conditional U-Net trained with a null label. */
export function canUseCfg(m: Pick<PackManifest, 'classCond' | 'unconditionalLabel'>): boolean {
  return m.classCond && m.unconditionalLabel !== null;
}

/**
 * The classifier's label space must be the manifest's: labels[i] names logit i. A graph whose
 * "logits" output states K columns, K != labels.length, would give some classes an all-zero
 * one-hot (guidance silently doing nothing) or ignore classes. Returns the problem, or null when
 * the sizes agree or the graph leaves K symbolic. `outputs` is ONNX Runtime's outputMetadata.
 */
export function classifierLabelProblem(
  outputs: readonly { name: string; isTensor: boolean; shape?: ReadonlyArray<number | string> }[],
  m: Pick<PackManifest, 'labels'>,
  file: string,
): string | null {
  const logits = outputs.find((o) => o.name === GRAPH_IO.names.logits);
  const k = logits?.isTensor && logits.shape?.length === 2 ? logits.shape[1] : undefined;
  if (typeof k !== 'number' || k === m.labels.length) return null;
  return `${file}: the classifier has ${k} classes but the manifest lists ${m.labels.length} labels (labels[i] must name classifier class i)`;
}

/**
 * A graph file that lacks an input or output its kind must have (GRAPH_IO): the manifest's `inputs` /
 * `outputs` are only what the pack claims, this checks the loaded graph itself (ONNX Runtime's
 * session.inputNames / outputNames). Returns the problem, or null.
 */
export function graphIoProblem(
  session: { readonly inputNames: readonly string[]; readonly outputNames: readonly string[] },
  io: GraphIoSpec,
  classCond: boolean,
  file: string,
): string | null {
  const inputs = io.inputs(classCond).filter((n) => !session.inputNames.includes(n));
  const outputs = io.outputs.filter((n) => !session.outputNames.includes(n));
  if (inputs.length === 0 && outputs.length === 0) return null;
  const missing = [...inputs.map((n) => `input "${n}"`), ...outputs.map((n) => `output "${n}"`)].join(', ');
  return `${file}: the graph has no ${missing} (its inputs: ${session.inputNames.join(', ') || 'none'}; outputs: ${session.outputNames.join(', ') || 'none'})`;
}

/** Model label of an ImageNet index, or -1 when the pack does not know that class. */
export function labelOfImagenetIndex(m: PackManifest, imagenetIndex: number): number {
  return m.labels.indexOf(imagenetIndex);
}
