// The pack manifest (docs/pack-format.md), validated once at load. Pure: no DOM, no onnxruntime.
import type { UpsamplerSpec } from '../diffusion/cascade';
import type { DiffusionSpec } from '../diffusion/process';
import { spaceTimesteps } from '../diffusion/respace';
import type { NoiseSchedule } from '../diffusion/schedule';

export type { DiffusionSpec, NoiseSchedule };

export const MANIFEST_SCHEMA_VERSION = 1;

/** File names a manifest may give: one plain name inside the pack folder (no path, no scheme, no ".."). */
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

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A bad value as shown in a message: JSON, cut short (a hostile manifest may hold megabytes); a number
 * JSON.parse turned into Infinity (1e309) says so instead of JSON.stringify's "null".
 */
function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v) && !Number.isNaN(v)) return `${v} (the number is too large for a 64-bit float)`;
  let text: string;
  try {
    text = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  } catch {
    text = 'a value nested too deeply to show'; // JSON.stringify ran out of stack (or met a BigInt)
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function need<T>(ok: boolean, path: string, what: string, v: unknown): T {
  if (!ok) throw new ManifestError(`manifest.${path} must be ${what} (got ${shown(v)})`);
  return v as T;
}

const str = (o: Obj, k: string, p: string) => need<string>(typeof o[k] === 'string' && o[k] !== '', `${p}${k}`, 'a non-empty string', o[k]);
const bool = (o: Obj, k: string, p: string) => need<boolean>(typeof o[k] === 'boolean', `${p}${k}`, 'true or false', o[k]);
const posInt = (o: Obj, k: string, p: string) =>
  need<number>(Number.isInteger(o[k]) && (o[k] as number) > 0, `${p}${k}`, 'a positive integer', o[k]);
const finite = (o: Obj, k: string, p: string) =>
  need<number>(typeof o[k] === 'number' && Number.isFinite(o[k]), `${p}${k}`, 'a finite number', o[k]);

function strList(o: Obj, k: string, p: string): string[] {
  const v = o[k];
  return need<string[]>(Array.isArray(v) && v.every((s) => typeof s === 'string'), `${p}${k}`, 'a list of strings', v);
}

function graph(o: Obj, k: string, io: GraphIoSpec, classCond: boolean): GraphFile {
  const g = o[k];
  need(isObj(g), k, 'an object', g);
  const G = g as Obj;
  const file = str(G, 'file', `${k}.`);
  need(
    PACK_FILE_NAME.test(file) && !file.includes('..') && file.length <= MANIFEST_LIMITS.maxFileNameLength,
    `${k}.file`, 'a plain file name inside the pack (letters, digits, . _ -; no "..")', file,
  );
  const dtype = need<GraphFile['dtype']>(G.dtype === 'float32' || G.dtype === 'float16', `${k}.dtype`, '"float32" or "float16"', G.dtype);
  const sha256 = need<string>(typeof G.sha256 === 'string' && /^[0-9a-f]{64}$/.test(G.sha256), `${k}.sha256`, '64 lowercase hex digits', G.sha256);
  const inputs = strList(G, 'inputs', `${k}.`);
  const outs = strList(G, 'outputs', `${k}.`);
  for (const name of io.inputs(classCond)) need(inputs.includes(name), `${k}.inputs`, `a list containing "${name}"`, inputs);
  for (const name of io.outputs) need(outs.includes(name), `${k}.outputs`, `a list containing "${name}"`, outs);
  const g2: GraphFile = { file, dtype, bytes: posInt(G, 'bytes', `${k}.`), sha256, inputs, outputs: outs };
  if (G.externalData !== undefined) g2.externalData = externalData(G.externalData, `${k}.externalData`, file);
  return g2;
}

function plainFile(o: Obj, p: string): string {
  const file = str(o, 'file', p);
  return need<string>(
    PACK_FILE_NAME.test(file) && !file.includes('..') && file.length <= MANIFEST_LIMITS.maxFileNameLength,
    `${p}file`, 'a plain file name inside the pack (letters, digits, . _ -; no "..")', file,
  );
}

function externalData(v: unknown, p: string, graphFile: string): ExternalDataFile[] {
  const max = MANIFEST_LIMITS.maxExternalDataFiles;
  need(Array.isArray(v) && v.length > 0 && v.length <= max, p, `a list of 1 to ${max} files`, v);
  const seen = new Set([graphFile]);
  return (v as unknown[]).map((e, i) => {
    need(isObj(e), `${p}[${i}]`, 'an object', e);
    const E = e as Obj;
    const file = plainFile(E, `${p}[${i}].`);
    need(!seen.has(file), `${p}[${i}].file`, 'a file named once in this graph entry', file);
    seen.add(file);
    const bytes = posInt(E, 'bytes', `${p}[${i}].`);
    const sha256 = need<string>(typeof E.sha256 === 'string' && /^[0-9a-f]{64}$/.test(E.sha256), `${p}[${i}].sha256`, '64 lowercase hex digits', E.sha256);
    return { file, bytes, sha256 };
  });
}

function diffusionSpec(d: unknown, p: string): DiffusionSpec {
  need(isObj(d), p, 'an object', d);
  const D = d as Obj;
  const noiseSchedule = need<NoiseSchedule>(D.noiseSchedule === 'linear' || D.noiseSchedule === 'cosine', `${p}.noiseSchedule`, '"linear" or "cosine"', D.noiseSchedule);
  const diffusionSteps = posInt(D, 'diffusionSteps', `${p}.`);
  need(diffusionSteps <= MANIFEST_LIMITS.maxDiffusionSteps, `${p}.diffusionSteps`, `at most ${MANIFEST_LIMITS.maxDiffusionSteps}`, diffusionSteps);
  return {
    noiseSchedule, diffusionSteps, predictXstart: bool(D, 'predictXstart', `${p}.`), rescaleTimesteps: bool(D, 'rescaleTimesteps', `${p}.`),
  };
}

function respacingOk(steps: number, respacing: string, p: string): void {
  try {
    spaceTimesteps(steps, respacing);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ManifestError(`manifest.${p}: ${why.length > 200 ? `${why.slice(0, 200)}…` : why}`);
  }
}

/** Same rules as adm/manifest.py `_upsampler` (docs/pack-format.md, "Upsampler cascade"). */
function upsampler(m: Obj, baseSize: number): UpsamplerGraph {
  const u = m.upsampler;
  need(isObj(u), 'upsampler', 'an object', u);
  const U = u as Obj;
  const learnSigma = bool(U, 'learnSigma', 'upsampler.');
  const classCond = bool(U, 'classCond', 'upsampler.');
  const lowResSize = need<number>(Number.isInteger(U.lowResSize) && U.lowResSize === baseSize, 'upsampler.lowResSize', `the base model's imageSize (${baseSize})`, U.lowResSize);
  const imageSize = need<number>(
    Number.isInteger(U.imageSize) && (U.imageSize as number) > baseSize && (U.imageSize as number) <= MANIFEST_LIMITS.maxImageSize,
    'upsampler.imageSize', `an integer from ${baseSize + 1} to ${MANIFEST_LIMITS.maxImageSize}`, U.imageSize,
  );
  const diffusion = diffusionSpec(U.diffusion, 'upsampler.diffusion');
  need(isObj(U.sampling), 'upsampler.sampling', 'an object', U.sampling);
  const S = U.sampling as Obj;
  const timestepRespacing = str(S, 'timestepRespacing', 'upsampler.sampling.');
  respacingOk(diffusion.diffusionSteps, timestepRespacing, 'upsampler.sampling.timestepRespacing');
  const useDdim = bool(S, 'useDdim', 'upsampler.sampling.');
  const g = graph(m, 'upsampler', GRAPH_IO.upsampler, classCond);
  return { ...g, imageSize, lowResSize, learnSigma, classCond, diffusion, sampling: { timestepRespacing, useDdim } };
}

/** Same rules as adm/manifest.py `_reference_features`. */
function referenceFeatures(m: Obj, labels: number, diffusionSteps: number, grad: GraphFile | undefined): ReferenceFeatures {
  const r = m.referenceFeatures;
  need(isObj(r), 'referenceFeatures', 'an object', r);
  const R = r as Obj;
  const file = plainFile(R, 'referenceFeatures.');
  need(R.dtype === 'float32', 'referenceFeatures.dtype', '"float32"', R.dtype);
  const L = MANIFEST_LIMITS;
  const sh = R.shape;
  const ok = Array.isArray(sh) && sh.length === 3 && sh.every((v) => Number.isInteger(v)) && sh[0] === labels && sh[1] >= L.minReferencePerLabel && sh[2] >= 1;
  const shape = need<[number, number, number]>(ok, 'referenceFeatures.shape', `[${labels} (the labels), images per label (at least ${L.minReferencePerLabel}), feature size]`, sh);
  const size = 4 * shape[0] * shape[1] * shape[2];
  need(size <= L.maxReferenceFeatureBytes, 'referenceFeatures.shape', `at most ${L.maxReferenceFeatureBytes} bytes of float32`, sh);
  const bytes = need<number>(Number.isInteger(R.bytes) && R.bytes === size, 'referenceFeatures.bytes', `4 x the shape's product (${size})`, R.bytes);
  const sha256 = need<string>(typeof R.sha256 === 'string' && /^[0-9a-f]{64}$/.test(R.sha256), 'referenceFeatures.sha256', '64 lowercase hex digits', R.sha256);
  const timestep = need<number>(Number.isInteger(R.timestep) && (R.timestep as number) >= 0 && (R.timestep as number) < diffusionSteps, 'referenceFeatures.timestep', `a timestep 0..${diffusionSteps - 1}`, R.timestep);
  need(grad !== undefined && grad.outputs.includes(GRAPH_IO.names.features), 'referenceFeatures', `given only with a classifierGrad graph whose outputs include "${GRAPH_IO.names.features}"`, r);
  return { file, dtype: 'float32', shape: [shape[0], shape[1], shape[2]], bytes, sha256, timestep };
}

/** Validates parsed JSON as a PackManifest; throws ManifestError naming the first bad field. */
export function parseManifest(json: unknown): PackManifest {
  need(isObj(json), '', 'a JSON object', json);
  const m = json as Obj;
  need(m.schemaVersion === MANIFEST_SCHEMA_VERSION, 'schemaVersion', `${MANIFEST_SCHEMA_VERSION} (this app reads schema ${MANIFEST_SCHEMA_VERSION})`, m.schemaVersion);
  const classCond = bool(m, 'classCond', '');
  const labels = m.labels;
  const K = MANIFEST_LIMITS.imagenetClasses;
  need(Array.isArray(labels) && labels.length > 0 && labels.length <= K, 'labels', `a non-empty list of at most ${K} ImageNet indices`, labels);
  const labelList = labels as unknown[];
  const bad = labelList.findIndex((l) => !Number.isInteger(l) || (l as number) < 0 || (l as number) >= K);
  need(bad < 0, `labels[${bad}]`, `an ImageNet index 0..${K - 1}`, labelList[bad]);
  const dup = labelList.findIndex((l, i) => labelList.indexOf(l) !== i);
  need(dup < 0, `labels[${dup}]`, 'unique (each ImageNet class at most once)', labelList[dup]);
  // unconditionalLabel is a model label (the U-Net's "no class" y), so it must lie outside the class
  // labels 0..labels.length-1 and inside a label space of at most 1000 classes + 1.
  const ul = m.unconditionalLabel;
  need(
    ul === null || (Number.isInteger(ul) && (ul as number) >= labelList.length && (ul as number) <= K),
    'unconditionalLabel', `null or a label from ${labelList.length} to ${K} (outside the class labels 0..${labelList.length - 1})`, ul,
  );
  const d = m.diffusion;
  need(isObj(d), 'diffusion', 'an object', d);
  const D = d as Obj;
  const noiseSchedule = need<NoiseSchedule>(D.noiseSchedule === 'linear' || D.noiseSchedule === 'cosine', 'diffusion.noiseSchedule', '"linear" or "cosine"', D.noiseSchedule);
  const s = m.sampling;
  need(isObj(s), 'sampling', 'an object', s);
  const S = s as Obj;
  const imageSize = posInt(m, 'imageSize', '');
  need(imageSize <= MANIFEST_LIMITS.maxImageSize, 'imageSize', `at most ${MANIFEST_LIMITS.maxImageSize}`, imageSize);
  const diffusionSteps = posInt(D, 'diffusionSteps', 'diffusion.');
  need(diffusionSteps <= MANIFEST_LIMITS.maxDiffusionSteps, 'diffusion.diffusionSteps', `at most ${MANIFEST_LIMITS.maxDiffusionSteps}`, diffusionSteps);
  const timestepRespacing = str(S, 'timestepRespacing', 'sampling.');
  respacingOk(diffusionSteps, timestepRespacing, 'sampling.timestepRespacing');
  const manifest: PackManifest = {
    schemaVersion: 1,
    name: str(m, 'name', ''),
    title: str(m, 'title', ''),
    imageSize,
    learnSigma: bool(m, 'learnSigma', ''),
    classCond,
    unconditionalLabel: ul as number | null,
    labels: labels as number[],
    diffusion: {
      noiseSchedule,
      diffusionSteps,
      predictXstart: bool(D, 'predictXstart', 'diffusion.'),
      rescaleTimesteps: bool(D, 'rescaleTimesteps', 'diffusion.'),
    },
    sampling: {
      classifierScale: finite(S, 'classifierScale', 'sampling.'),
      timestepRespacing,
      useDdim: bool(S, 'useDdim', 'sampling.'),
    },
    unet: graph(m, 'unet', GRAPH_IO.unet, classCond),
    source: str(m, 'source', ''),
    license: str(m, 'license', ''),
  };
  if (S.guidanceMode !== undefined) {
    const mode = need<GuidanceMode>(GUIDANCE_MODES.includes(S.guidanceMode as GuidanceMode), 'sampling.guidanceMode', '"classifier", "cfg" or "both"', S.guidanceMode);
    need(!modeUses(mode).cfg || canUseCfg(manifest), 'sampling.guidanceMode', '"classifier" for a pack without unconditionalLabel', mode);
    manifest.sampling.guidanceMode = mode;
  }
  if (S.cfgScale !== undefined) manifest.sampling.cfgScale = finite(S, 'cfgScale', 'sampling.');
  if (m.unetFp16 !== undefined) manifest.unetFp16 = graph(m, 'unetFp16', GRAPH_IO.unet, classCond);
  if (m.classifierGrad !== undefined) manifest.classifierGrad = graph(m, 'classifierGrad', GRAPH_IO.classifierGrad, true);
  if (m.upsampler !== undefined) manifest.upsampler = upsampler(m, imageSize);
  if (m.referenceFeatures !== undefined) manifest.referenceFeatures = referenceFeatures(m, labelList.length, diffusionSteps, manifest.classifierGrad);
  return manifest;
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
