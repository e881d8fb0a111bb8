// Graph templates (docs/pack-format.md, "Templates"): index.json and template.json as adm/template_index.py
// and adm/templates.py write them, read like any input (shapes checked, sizes bounded), and how a checkpoint's
// keys and shapes find their template. Pure: the worker fetches the JSON, this module judges it.
import type { GraphFile } from '../shared/manifest';
import type { FillItem, FillPlan } from './fill';
import type { TensorEntry } from './stateDict';

export type TemplateSlot = 'unet' | 'classifier' | 'upsampler';

export interface TemplateFileInfo {
  bytes: number;
  sha256: string;
}

/** One entry of index.json. */
export interface TemplateIndexEntry {
  stem: string | null;
  slot: TemplateSlot;
  title: string;
  imageSize: number;
  parameters: number;
  keysSha256: string;
  dir: string;
  files: Record<string, TemplateFileInfo>;
}

/** A pack graph entry (src/shared/manifest.ts) with where it goes and its fill plan instead of filled files. */
export interface TemplateGraph extends Omit<GraphFile, 'externalData'> {
  manifestKey: 'unet' | 'unetFp16' | 'classifierGrad' | 'upsampler';
  externalData: FillPlan[];
}

export interface Template {
  stem?: string;
  title: string;
  slot: TemplateSlot;
  imageSize: number;
  parameters: number;
  flags: string;
  keys: [string, string, number[]][];
  graphs: TemplateGraph[];
  /** The manifest fields the flags imply (validated with the whole manifest once the pack exists). */
  manifest: Record<string, unknown>;
}

export class TemplateFormatError extends Error {
  constructor(what: string, problem: string) {
    super(`${what}: ${problem} (the page's templates are damaged or from another version; reload the page)`);
    this.name = 'TemplateFormatError';
  }
}

const SLOTS: readonly string[] = ['unet', 'classifier', 'upsampler'];
const FILE_RE = /^[\w.-]+$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export function parseTemplateIndex(json: unknown): TemplateIndexEntry[] {
  const bad = (p: string) => new TemplateFormatError('templates/index.json', p);
  if (!isObj(json) || json.format !== 'adm-graph-template-index' || json.version !== 1 || !Array.isArray(json.templates)) throw bad('not a template index of version 1');
  return json.templates.map((t, i) => {
    if (!isObj(t) || !SLOTS.includes(t.slot as string) || typeof t.title !== 'string' || !isCount(t.imageSize) || !isCount(t.parameters)
      || typeof t.keysSha256 !== 'string' || !SHA_RE.test(t.keysSha256) || typeof t.dir !== 'string' || !FILE_RE.test(t.dir) || !isObj(t.files)) {
      throw bad(`templates[${i}] is malformed`);
    }
    for (const [name, f] of Object.entries(t.files)) {
      if (!FILE_RE.test(name) || !isObj(f) || !isCount(f.bytes) || typeof f.sha256 !== 'string' || !SHA_RE.test(f.sha256)) throw bad(`templates[${i}].files.${name} is malformed`);
    }
    if (!t.files['template.json']) throw bad(`templates[${i}] lists no template.json`);
    return { ...(t as unknown as TemplateIndexEntry), stem: typeof t.stem === 'string' ? t.stem : null };
  });
}

function checkPlan(p: unknown, what: string): FillPlan {
  if (!isObj(p) || typeof p.file !== 'string' || !FILE_RE.test(p.file) || !isCount(p.bytes) || !Array.isArray(p.tensors)) throw new TemplateFormatError(what, 'a malformed externalData item');
  for (const item of p.tensors) {
    if (!Array.isArray(item) || item.length !== 4 || typeof item[0] !== 'string' || !isCount(item[1]) || !isCount(item[2]) || (item[3] !== 'float32' && item[3] !== 'float16')) {
      throw new TemplateFormatError(what, `a malformed tensor entry in ${p.file}`);
    }
  }
  return { file: p.file, bytes: p.bytes, tensors: p.tensors as FillItem[] };
}

export function parseTemplate(json: unknown, what: string): Template {
  const bad = (p: string) => new TemplateFormatError(what, p);
  if (!isObj(json) || json.format !== 'adm-graph-template' || json.version !== 1) throw bad('not a graph template of version 1');
  if (!SLOTS.includes(json.slot as string) || typeof json.title !== 'string' || !isCount(json.imageSize) || !isCount(json.parameters) || typeof json.flags !== 'string') throw bad('malformed fields');
  if (!Array.isArray(json.keys) || !Array.isArray(json.graphs) || !isObj(json.manifest)) throw bad('no keys, graphs or manifest');
  for (const k of json.keys) {
    if (!Array.isArray(k) || k.length !== 3 || typeof k[0] !== 'string' || typeof k[1] !== 'string' || !Array.isArray(k[2]) || !k[2].every(isCount)) throw bad('a malformed key entry');
  }
  const graphs = json.graphs.map((g): TemplateGraph => {
    if (!isObj(g) || typeof g.manifestKey !== 'string' || typeof g.file !== 'string' || !FILE_RE.test(g.file) || !isCount(g.bytes)
      || typeof g.sha256 !== 'string' || !SHA_RE.test(g.sha256) || (g.dtype !== 'float32' && g.dtype !== 'float16') || !Array.isArray(g.externalData)) {
      throw bad('a malformed graph entry');
    }
    return { ...(g as unknown as TemplateGraph), externalData: g.externalData.map((p) => checkPlan(p, what)) };
  });
  return { ...(json as unknown as Template), graphs };
}

/** The text index.json's keysSha256 hashes: "KEY\tDTYPE\tD0,D1,…\n" per key, in the file's order. */
export function keysText(tensors: readonly Pick<TensorEntry, 'key' | 'dtype' | 'shape'>[]): string {
  return tensors.map((t) => `${t.key}\t${t.dtype}\t${t.shape.join(',')}\n`).join('');
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The first difference between a checkpoint's tensors and a template's keys (in the template's order), or null. */
export function firstDifference(tensors: readonly TensorEntry[], t: Template): string | null {
  const byKey = new Map(tensors.map((x) => [x.key, x]));
  for (const [key, dtype, shape] of t.keys) {
    const x = byKey.get(key);
    if (!x) return `it has no key ${JSON.stringify(key)}`;
    if (x.shape.length !== shape.length || x.shape.some((d, i) => d !== shape[i])) return `${JSON.stringify(key)} has shape ${fmtShape(x.shape)}, not ${fmtShape(shape)}`;
    if (x.dtype !== dtype) return `${JSON.stringify(key)} is ${x.dtype}, not ${dtype}`;
  }
  const known = new Set(t.keys.map((k) => k[0]));
  const extra = tensors.find((x) => !known.has(x.key));
  return extra ? `it has a key ${JSON.stringify(extra.key)} the template does not` : null;
}

/** How many of the template's keys the checkpoint has with the same shape (for "the nearest template"). */
export function similarity(tensors: readonly TensorEntry[], t: Template): number {
  const byKey = new Map(tensors.map((x) => [x.key, x]));
  let n = 0;
  for (const [key, , shape] of t.keys) {
    const x = byKey.get(key);
    if (x && x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) n++;
  }
  return n - Math.abs(tensors.length - t.keys.length) / 2;
}

/** "296M parameters", "1.6M parameters". */
export function parameterText(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B parameters`;
  if (n >= 1e8) return `${Math.round(n / 1e6)}M parameters`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M parameters`;
  return `${Math.round(n / 1e3)}K parameters`;
}
