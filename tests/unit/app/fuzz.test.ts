// Property-based fuzz (issue 13) of the two parsers that read outside input in the app: the pack
// manifest validator (src/shared/manifest.ts) and the URL parser (src/ui/url.ts). Random mutations
// of valid input must either be accepted and obey every rule, or be refused with a ManifestError /
// an error sentence: never another kind of exception, never an accepted value that breaks a rule.
// Seeded, so a failure reproduces; a few thousand runs in a few seconds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { spaceTimesteps } from '../../../src/diffusion';
import { MANIFEST_LIMITS, PACK_FILE_NAME, type PackManifest } from '../../../src/shared/manifest';
import { ManifestError, parseManifest } from '../../../src/shared/manifestCheck';
import { LIMITS } from '../../../src/shared/protocol';
import { INITIAL_PARAMS, type Params } from '../../../src/ui/store/paramsSlice';
import { parseUrlParams, toSearch } from '../../../src/ui/url';
import { packFileUrl } from '../../../src/worker/storage/packUrl';
import { ROOT } from '../cli/run';

const SEED = 20_240_613;
const RUNS = 1500;
const run = <T>(prop: fc.IPropertyWithHooks<T>, numRuns = RUNS) => fc.assert(prop, { seed: SEED, numRuns });

type Json = unknown;
const VALID = JSON.parse(readFileSync(join(ROOT, 'public/models/tiny16/manifest.json'), 'utf8')) as Record<string, Json>;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Every path into the valid manifest (object keys and array indices), plus a few absent keys. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = at.length ? [at] : [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}
const PATHS = [...paths(VALID), ['unetFp16'], ['classifierGrad', 'file'], ['extra'], ['sampling', 'guidanceMode'], ['sampling', 'cfgScale']];

const NASTY_STRINGS = [
  'https:evil.example', 'https://evil.example/x.onnx', '//evil.example/x', 'javascript:alert(1)', 'data:,x', 'blob:x', '..', '../x.onnx',
  'a/../../b', '%2e%2e', '.hidden', 'x\\y', 'x?y=1', 'x#y', ' unet.onnx', 'unet.onnx ', 'ünet.onnx', 'a..b', '', 'ddim0', 'ddim1000',
  'ddim1001', 'ddim-1', '0', '1,0', '1000', '1001', '10,10,10', 'ddim', 'ddim25', '250', '__proto__', 'constructor', 'null', '1e309',
];
const value: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(...NASTY_STRINGS),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer({ min: -3, max: 1_000_003 }),
  fc.constantFrom(0, 1, 999, 1000, 1001, 1024, 1025, 10_000, 10_001, -0, 0.5, 1e300, Number.MAX_SAFE_INTEGER, 2 ** 53, NaN, Infinity, -Infinity),
  fc.array(fc.integer({ min: -2, max: 1002 }), { maxLength: 1100 }),
  fc.array(fc.constantFrom(0, 217, 482, 999, 1000, 5, 5), { maxLength: 12 }),
);

type Mutation = { path: (string | number)[]; value?: Json; remove: boolean };
const mutation: fc.Arbitrary<Mutation> = fc.record({ path: fc.constantFrom(...PATHS), value, remove: fc.boolean() });

function apply(base: Record<string, Json>, ms: Mutation[]): Json {
  const root: Json = clone(base);
  for (const m of ms) {
    if (m.path.length === 0) continue;
    let o = root as Record<string | number, Json>;
    let ok = true;
    for (const k of m.path.slice(0, -1)) {
      const next = o?.[k];
      if (!next || typeof next !== 'object') {
        ok = false;
        break;
      }
      o = next as Record<string | number, Json>;
    }
    if (!ok) continue;
    const last = m.path[m.path.length - 1];
    if (m.remove) delete o[last];
    else o[last] = m.value;
  }
  return root;
}

/** Every rule an accepted manifest must obey (issue 13 and docs/pack-format.md). */
function checkRules(m: PackManifest): void {
  const graphs = [m.unet, m.unetFp16, m.classifierGrad].filter((g) => g !== undefined);
  for (const g of graphs) {
    expect(g.file).toMatch(PACK_FILE_NAME);
    expect(g.file).not.toContain('..');
    for (const base of ['http://127.0.0.1:4173/models/p/', 'https://app.test/a/models/p/']) {
      expect(packFileUrl(base, g.file)).toBe(base + g.file); // resolves inside the pack folder, as is
    }
    expect(g.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Number.isInteger(g.bytes) && g.bytes > 0).toBe(true);
  }
  expect(m.labels.length).toBeGreaterThan(0);
  expect(m.labels.length).toBeLessThanOrEqual(1000);
  expect(new Set(m.labels).size).toBe(m.labels.length);
  for (const l of m.labels) expect(Number.isInteger(l) && l >= 0 && l < 1000).toBe(true);
  if (m.unconditionalLabel !== null) {
    expect(Number.isInteger(m.unconditionalLabel)).toBe(true);
    expect(m.unconditionalLabel).toBeGreaterThanOrEqual(m.labels.length); // not one of the class labels
    expect(m.unconditionalLabel).toBeLessThanOrEqual(1000);
  }
  expect(Number.isInteger(m.imageSize) && m.imageSize > 0 && m.imageSize <= MANIFEST_LIMITS.maxImageSize).toBe(true);
  const T = m.diffusion.diffusionSteps;
  expect(Number.isInteger(T) && T > 0 && T <= MANIFEST_LIMITS.maxDiffusionSteps).toBe(true);
  const kept = spaceTimesteps(T, m.sampling.timestepRespacing);
  expect(kept.length).toBeGreaterThanOrEqual(1);
  expect(kept.length).toBeLessThanOrEqual(T);
  expect(kept.every((t) => Number.isInteger(t) && t >= 0 && t < T)).toBe(true);
  expect(Number.isFinite(m.sampling.classifierScale)).toBe(true);
  expect(['linear', 'cosine']).toContain(m.diffusion.noiseSchedule);
}

/** Parses; a refusal must be a ManifestError with a short sentence naming a manifest field. */
function parseOrRefuse(json: Json): PackManifest | null {
  try {
    return parseManifest(json);
  } catch (e) {
    if (!(e instanceof ManifestError)) throw new Error(`not a ManifestError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
    expect(e.message).toMatch(/^manifest\.[\w.[\]]* ?(must be|: )/);
    expect(e.message.length).toBeLessThan(400);
    return null;
  }
}

describe('fuzz: parseManifest', () => {
  it('the shipped manifests are accepted', () => {
    for (const id of ['tiny16', 'imagenette64']) {
      checkRules(parseManifest(JSON.parse(readFileSync(join(ROOT, `public/models/${id}/manifest.json`), 'utf8'))));
    }
  });

  it('random mutations of a valid manifest: accepted and within every rule, or refused with a ManifestError', () => {
    run(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const m = parseOrRefuse(apply(VALID, ms));
        if (m) checkRules(m);
      }),
      3000,
    );
  });

  it('arbitrary JSON is refused with a ManifestError', () => {
    run(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (json) => {
        expect(parseOrRefuse(json)).toBeNull();
      }),
    );
  });

  it('file names: accepted exactly when plain (letters, digits, . _ -, no "..") and then fetched from the pack folder only', () => {
    const nameChar = fc.constantFrom(...'aZ09._-/\\:%?#@ ~ü\u0000'.split(''));
    const name = fc.oneof(fc.string({ unit: nameChar, maxLength: 12 }), fc.constantFrom(...NASTY_STRINGS), fc.string({ maxLength: 12 }));
    run(
      fc.property(name, fc.constantFrom('unet', 'unetFp16', 'classifierGrad'), (file, key) => {
        const json = clone(VALID);
        json[key] = { ...(clone(VALID[key] ?? VALID.unet) as object), file };
        const m = parseOrRefuse(json);
        const plain = PACK_FILE_NAME.test(file) && !file.includes('..') && file.length <= MANIFEST_LIMITS.maxFileNameLength;
        expect(m !== null).toBe(plain);
        if (m) checkRules(m);
      }),
    );
  });

  it('labels and unconditionalLabel: accepted only when unique, in 0..999, at most 1000, the null label outside them', () => {
    const labels = fc.oneof(
      fc.array(fc.integer({ min: -2, max: 1001 }), { maxLength: 20 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 999 }), { minLength: 990, maxLength: 1000 }),
      fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1001, maxLength: 1010 }),
    );
    const ul = fc.oneof(fc.constant(null), fc.integer({ min: -2, max: 1003 }), fc.constantFrom(0.5, '3', true));
    run(
      fc.property(labels, ul, (ls, u) => {
        const m = parseOrRefuse({ ...clone(VALID), labels: ls, unconditionalLabel: u });
        if (m) checkRules(m);
      }),
      800,
    );
  });

  it('respacing strings: accepted only when they give 1..T steps', () => {
    const spec = fc.oneof(
      fc.integer({ min: -1, max: 2100 }).map((n) => `ddim${n}`),
      fc.array(fc.integer({ min: 0, max: 1100 }), { minLength: 1, maxLength: 6 }).map((a) => a.join(',')),
      fc.string({ unit: fc.constantFrom(...'ddim0123456789, -'.split('')), maxLength: 10 }),
      fc.constantFrom(...NASTY_STRINGS),
    );
    run(
      fc.property(spec, fc.integer({ min: 1, max: 2000 }), (r, T) => {
        const json = clone(VALID) as Record<string, Record<string, Json>>;
        json.sampling.timestepRespacing = r;
        json.diffusion.diffusionSteps = T;
        const m = parseOrRefuse(json);
        if (m) checkRules(m);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------

const NAMES = ['class', 'scale', 'steps', 'seed', 'sampler', 'pack', 'ep', 'cond', 'preview', 'mode', 'cfg', 'gi'];
const RAW_VALUES = [
  '0', '1', '-0', '-1', '0.5', '20', '20.5', '999', '1000', '1e3', '1e-7', ' 5', '5 ', '0x10', 'Infinity', 'NaN', '', '4294967295',
  '4294967296', '99999999999999999999', 'ddim', 'ddpm', 'euler', 'x', 'x0', 'auto', 'wasm', 'webgpu', 'classifier', 'cfg', 'both',
  '0,999', '999,0', '0,10000', 'tiny16', '../evil', 'a b', '%zz', '\u0000', 'ü',
];
const rawValue = fc.oneof(
  fc.constantFrom(...RAW_VALUES),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 41, maxLength: 300 }), // long junk must not be echoed whole
  fc.double().map(String),
);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 6 })), rawValue), { maxLength: 8 })
  .map((pairs) => `?${new URLSearchParams(pairs).toString()}`);

function inLimits(v: unknown, r: { min: number; max: number }, integer: boolean): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= r.min && v <= r.max && (!integer || Number.isInteger(v));
}

/** Every rule a parsed URL value must obey (the same LIMITS the controls and the worker use). */
function checkUrlValues(values: Partial<Params>): void {
  const v = values;
  if ('imagenetClass' in v) expect(inLimits(v.imagenetClass, LIMITS.imagenetClass, true)).toBe(true);
  if ('classifierScale' in v) expect(inLimits(v.classifierScale, LIMITS.classifierScale, false)).toBe(true);
  if ('cfgScale' in v) expect(inLimits(v.cfgScale, LIMITS.cfgScale, false)).toBe(true);
  if ('steps' in v) expect(inLimits(v.steps, LIMITS.steps, true)).toBe(true);
  if ('seed' in v) expect(inLimits(v.seed, LIMITS.seed, true)).toBe(true);
  if ('sampler' in v) expect(['ddpm', 'ddim']).toContain(v.sampler);
  if ('ep' in v) expect(['auto', 'webgpu', 'wasm']).toContain(v.ep);
  if ('packId' in v) expect(v.packId).toMatch(/^[\w-]+$/);
  if ('conditionUnet' in v) expect(typeof v.conditionUnet).toBe('boolean');
  if ('previewOf' in v) expect(['x', 'predX0']).toContain(v.previewOf);
  if ('guidanceMode' in v) expect(['classifier', 'cfg', 'both']).toContain(v.guidanceMode);
  if ('guidanceInterval' in v && v.guidanceInterval) {
    const [lo, hi] = v.guidanceInterval;
    expect(inLimits(lo, LIMITS.guidanceInterval, true) && inLimits(hi, LIMITS.guidanceInterval, true) && lo <= hi).toBe(true);
  }
}

describe('fuzz: parseUrlParams', () => {
  it('any query string: never throws, every kept value within the limits, every dropped one a short sentence', () => {
    run(
      fc.property(fc.oneof(query, fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })), (search) => {
        const { values, errors } = parseUrlParams(search);
        checkUrlValues(values);
        for (const e of errors) {
          expect(e).toMatch(/^URL parameter \w+=[\s\S]* using the default instead\.$/);
          expect(e.length).toBeLessThan(200);
        }
        expect(errors.length + Object.keys(values).length).toBeLessThanOrEqual(NAMES.length);
      }),
      3000,
    );
  });

  it('a link made by toSearch reproduces the params it was made from', () => {
    const params = fc.record({
      imagenetClass: fc.integer({ min: 0, max: 999 }),
      classifierScale: fc.oneof(fc.integer({ min: 0, max: 40 }).map((k) => k / 2), fc.double({ min: 0, max: 20, noNaN: true })),
      cfgScale: fc.oneof(fc.integer({ min: 0, max: 80 }).map((k) => k / 4), fc.double({ min: 0, max: 20, noNaN: true })),
      steps: fc.integer({ min: 1, max: 1000 }),
      seed: fc.integer({ min: 0, max: 0xffffffff }),
      sampler: fc.constantFrom('ddpm' as const, 'ddim' as const),
      packId: fc.stringMatching(/^[\w-]{1,12}$/),
      ep: fc.constantFrom('auto' as const, 'webgpu' as const, 'wasm' as const),
      conditionUnet: fc.boolean(),
      previewOf: fc.constantFrom('x' as const, 'predX0' as const),
      guidanceMode: fc.constantFrom('classifier' as const, 'cfg' as const, 'both' as const),
    });
    run(
      fc.property(params, (p) => {
        const full: Params = { ...INITIAL_PARAMS, ...p };
        const { values, errors } = parseUrlParams(toSearch(full));
        expect(errors).toEqual([]);
        const back = { ...INITIAL_PARAMS, ep: 'auto' as const, ...values };
        for (const k of ['imagenetClass', 'classifierScale', 'steps', 'seed', 'sampler', 'packId', 'conditionUnet', 'previewOf', 'guidanceMode'] as const) {
          expect(back[k], k).toEqual(full[k]);
        }
        if (full.guidanceMode !== 'classifier') expect(back.cfgScale).toEqual(full.cfgScale);
        expect(back.ep).toBe(full.ep);
      }),
    );
  });
});
