// The pack manifest (docs/pack-format.md), validated once at load. Pure: no DOM, no onnxruntime.

export const MANIFEST_SCHEMA_VERSION = 1;

export type NoiseSchedule = 'linear' | 'cosine';

export interface GraphFile {
  file: string;
  dtype: 'float32' | 'float16';
  bytes: number;
  sha256: string;
  inputs: string[];
  outputs: string[];
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
  diffusion: {
    noiseSchedule: NoiseSchedule;
    diffusionSteps: number;
    predictXstart: boolean;
    rescaleTimesteps: boolean;
  };
  sampling: {
    classifierScale: number;
    timestepRespacing: string;
    useDdim: boolean;
  };
  unet: GraphFile;
  unetFp16?: GraphFile;
  classifierGrad?: GraphFile;
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

function need<T>(ok: boolean, path: string, what: string, v: unknown): T {
  if (!ok) throw new ManifestError(`manifest.${path} must be ${what} (got ${JSON.stringify(v)})`);
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

function graph(o: Obj, k: string, required: string[], outputs: string[]): GraphFile {
  const g = o[k];
  need(isObj(g), k, 'an object', g);
  const G = g as Obj;
  const file = str(G, 'file', `${k}.`);
  need(!file.includes('/') && !file.includes('\\') && !file.startsWith('.'), `${k}.file`, 'a plain file name inside the pack', file);
  const dtype = need<GraphFile['dtype']>(G.dtype === 'float32' || G.dtype === 'float16', `${k}.dtype`, '"float32" or "float16"', G.dtype);
  const sha256 = need<string>(typeof G.sha256 === 'string' && /^[0-9a-f]{64}$/.test(G.sha256), `${k}.sha256`, '64 lowercase hex digits', G.sha256);
  const inputs = strList(G, 'inputs', `${k}.`);
  const outs = strList(G, 'outputs', `${k}.`);
  for (const name of required) need(inputs.includes(name), `${k}.inputs`, `a list containing "${name}"`, inputs);
  for (const name of outputs) need(outs.includes(name), `${k}.outputs`, `a list containing "${name}"`, outs);
  return { file, dtype, bytes: posInt(G, 'bytes', `${k}.`), sha256, inputs, outputs: outs };
}

/** Validates parsed JSON as a PackManifest; throws ManifestError naming the first bad field. */
export function parseManifest(json: unknown): PackManifest {
  need(isObj(json), '', 'a JSON object', json);
  const m = json as Obj;
  need(m.schemaVersion === MANIFEST_SCHEMA_VERSION, 'schemaVersion', `${MANIFEST_SCHEMA_VERSION} (this app reads schema ${MANIFEST_SCHEMA_VERSION})`, m.schemaVersion);
  const classCond = bool(m, 'classCond', '');
  const labels = m.labels;
  need(
    Array.isArray(labels) && labels.length > 0 && labels.every((l) => Number.isInteger(l) && l >= 0 && l < 1000),
    'labels', 'a non-empty list of ImageNet indices 0..999', labels,
  );
  const ul = m.unconditionalLabel;
  need(ul === null || (Number.isInteger(ul) && (ul as number) >= 0), 'unconditionalLabel', 'null or a non-negative integer', ul);
  const d = m.diffusion;
  need(isObj(d), 'diffusion', 'an object', d);
  const D = d as Obj;
  const noiseSchedule = need<NoiseSchedule>(D.noiseSchedule === 'linear' || D.noiseSchedule === 'cosine', 'diffusion.noiseSchedule', '"linear" or "cosine"', D.noiseSchedule);
  const s = m.sampling;
  need(isObj(s), 'sampling', 'an object', s);
  const S = s as Obj;
  const unetInputs = classCond ? ['x', 'timesteps', 'y'] : ['x', 'timesteps'];
  const manifest: PackManifest = {
    schemaVersion: 1,
    name: str(m, 'name', ''),
    title: str(m, 'title', ''),
    imageSize: posInt(m, 'imageSize', ''),
    learnSigma: bool(m, 'learnSigma', ''),
    classCond,
    unconditionalLabel: ul as number | null,
    labels: labels as number[],
    diffusion: {
      noiseSchedule,
      diffusionSteps: posInt(D, 'diffusionSteps', 'diffusion.'),
      predictXstart: bool(D, 'predictXstart', 'diffusion.'),
      rescaleTimesteps: bool(D, 'rescaleTimesteps', 'diffusion.'),
    },
    sampling: {
      classifierScale: finite(S, 'classifierScale', 'sampling.'),
      timestepRespacing: str(S, 'timestepRespacing', 'sampling.'),
      useDdim: bool(S, 'useDdim', 'sampling.'),
    },
    unet: graph(m, 'unet', unetInputs, ['model_output']),
    source: str(m, 'source', ''),
    license: str(m, 'license', ''),
  };
  if (m.unetFp16 !== undefined) manifest.unetFp16 = graph(m, 'unetFp16', unetInputs, ['model_output']);
  if (m.classifierGrad !== undefined) manifest.classifierGrad = graph(m, 'classifierGrad', ['x', 'timesteps', 'y'], ['grad', 'logp', 'logits']);
  return manifest;
}

/** Model label of an ImageNet index, or -1 when the pack does not know that class. */
export function labelOfImagenetIndex(m: PackManifest, imagenetIndex: number): number {
  return m.labels.indexOf(imagenetIndex);
}
