// The manifest schema's errors (docs/pack-manifest.schema.json, checked by the generated validator)
// as the app's one-line messages: "manifest.<field> must be <rule> (got <value>)". The rule is the
// schema's own "mustBe" phrase; of several errors the first in the schema's field order is shown.
// adm/manifest_check.py does the same over jsonschema's errors; tests/fixtures/manifests.json holds
// both to the same messages.
import { manifestSchema, validate, type SchemaError } from './manifestSchema.gen.js';

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

type Obj = Record<string, unknown>;
type Segment = string | number;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A bad value as shown in a message: JSON, cut short (a hostile manifest may hold megabytes); a number
 * JSON.parse turned into Infinity (1e309) says so instead of JSON.stringify's "null".
 */
export function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v) && !Number.isNaN(v)) return `${v} (the number is too large for a 64-bit float)`;
  let text: string;
  try {
    text = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  } catch {
    text = 'a value nested too deeply to show'; // JSON.stringify ran out of stack (or met a BigInt)
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** Throws the app's message for the field at `path` ("" is the manifest itself). */
export function need(ok: boolean, path: string, what: string, v: unknown): void {
  if (!ok) throw new ManifestError(`manifest.${path} must be ${what} (got ${shown(v)})`);
}

/** The schema nodes that apply to one value: the node, and what its $ref and allOf bring in. */
function expand(node: unknown): Obj[] {
  if (!isObj(node)) return [];
  const out = [node];
  if (typeof node.$ref === 'string') {
    out.push(...expand(node.$ref.slice(2).split('/').reduce<unknown>((n, k) => (isObj(n) ? n[k] : undefined), manifestSchema)));
  }
  if (Array.isArray(node.allOf)) for (const n of node.allOf) out.push(...expand(n));
  return out;
}

function child(node: Obj, seg: Segment): unknown {
  if (typeof seg === 'number') return Array.isArray(node.items) ? node.items[seg] : node.items;
  if (isObj(node.properties) && Object.hasOwn(node.properties, seg)) return node.properties[seg];
  return node.additionalProperties;
}

/** Walks the schema along `path`: the nodes at the end and, per step, the step's place in the schema's field order. */
function walk(path: readonly Segment[]): { nodes: Obj[]; ranks: number[] } {
  let nodes = expand(manifestSchema);
  const ranks: number[] = [];
  for (const seg of path) {
    const keys = [...new Set(nodes.flatMap((n) => (isObj(n.properties) ? Object.keys(n.properties) : [])))];
    const at = typeof seg === 'number' ? seg : keys.indexOf(seg);
    ranks.push(at < 0 ? Number.MAX_SAFE_INTEGER : at);
    nodes = nodes.flatMap((n) => expand(child(n, seg)));
  }
  return { nodes, ranks };
}

function mustBe(nodes: Obj[], keyword: string): string {
  const m = nodes.find((n) => n.mustBe !== undefined)?.mustBe;
  if (typeof m === 'string') return m;
  const phrases = (m ?? {}) as Record<string, string>;
  return phrases[keyword] ?? phrases[''] ?? `valid (schema keyword ${keyword})`;
}

/** Keywords in the order their errors are shown when one value breaks several. */
const KEYWORDS = ['required', 'type', 'const', 'enum', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'minItems', 'maxItems',
  'additionalItems', 'uniqueItems', 'contains', 'minProperties', 'additionalProperties'];

/** The index of the first item equal to an earlier one (as shown), -1 if none. */
function firstRepeat(items: unknown[]): number {
  const seen = new Set<string>();
  for (const [i, v] of items.entries()) {
    const key = shown(v);
    if (seen.has(key)) return i;
    seen.add(key);
  }
  return -1;
}

/** An error's place in the order errors are shown in, and its message (worded only for the one shown). */
interface Problem { ranks: number[]; keyword: number; message: () => string }

function problem(e: SchemaError, json: unknown): Problem | null {
  if (e.keyword === 'if') return null; // Ajv's summary of a failed "then"; the failure itself is reported too
  const path: Segment[] = [];
  let at: unknown = json;
  for (const raw of e.instancePath.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    const seg = Array.isArray(at) ? Number(key) : key;
    path.push(seg);
    at = (at as Record<Segment, unknown>)[seg];
  }
  let value = e.data;
  if (e.keyword === 'required') {
    path.push(String(e.params.missingProperty));
    value = undefined;
  }
  const { nodes, ranks } = walk(path); // once per error: a bad manifest may have thousands
  const what = e.keyword === 'contains' ? `a list containing ${JSON.stringify((e.schema as Obj).const)}` : mustBe(nodes, e.keyword);
  if (e.keyword === 'uniqueItems' && Array.isArray(value)) {
    const dup = firstRepeat(value);
    path.push(dup);
    ranks.push(dup);
    value = value[dup];
  }
  const name = path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');
  const keyword = KEYWORDS.indexOf(e.keyword);
  return { ranks, keyword: keyword < 0 ? KEYWORDS.length : keyword, message: () => `manifest.${name} must be ${what} (got ${shown(value)})` };
}

function before(a: Problem, b: Problem): number {
  for (let i = 0; i < Math.min(a.ranks.length, b.ranks.length); i++) if (a.ranks[i] !== b.ranks[i]) return a.ranks[i] - b.ranks[i];
  if (a.ranks.length !== b.ranks.length) return a.ranks.length - b.ranks.length;
  if (a.keyword !== b.keyword) return a.keyword - b.keyword;
  const [x, y] = [a.message(), b.message()];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Whether `json` holds more than `max` values, counted without recursion (it may nest 100k deep). */
function holdsMoreThan(json: unknown, max: number): boolean {
  const todo = [json];
  let count = 0;
  while (todo.length > 0) {
    const v = todo.pop();
    if (++count > max) return true;
    const inside = Array.isArray(v) ? v : typeof v === 'object' && v !== null ? Object.values(v) : [];
    for (let i = 0; i < inside.length && i <= max - count; i++) todo.push(inside[i]);
  }
  return false;
}

/**
 * The message of the first schema error in `json`, or null when the schema accepts it. A manifest of more
 * than `maxValues` values is refused first: the validator lists every error, one object each.
 */
export function schemaProblem(json: unknown, maxValues: number): string | null {
  if (holdsMoreThan(json, maxValues)) return `manifest holds more than ${maxValues} JSON values (a real one has about 1.1 per label)`;
  if (validate(json)) return null;
  const found = (validate.errors ?? []).map((e) => problem(e, json)).filter((p) => p !== null);
  return found.sort(before)[0]?.message() ?? 'manifest does not match docs/pack-manifest.schema.json';
}
