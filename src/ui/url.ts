// URL <-> params, so a link reproduces an image. Parsing is strict: an out-of-range or
// malformed value is dropped with a sentence saying so, and the default stays in force.
import { GUIDANCE_MODES } from '../shared/manifest';
import { GRID_DEFAULTS, LIMITS, type GuidanceInterval } from '../shared/protocol';
import { inRange } from '../shared/scales';
import { formatScaleList, parseScaleList } from './scaleList';
import type { Params } from './store/paramsSlice';

export interface UrlParse {
  values: Partial<Params>;
  errors: string[];
}

type Parsed<T> = { ok: true; value: T } | { ok: false; why: string };
type Field = { [K in keyof Params]: { key: K; name: string; parse: (raw: string) => Parsed<Params[K]> } }[keyof Params];

const ok = <T,>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T,>(why: string): Parsed<T> => ({ ok: false, why });
// Plain decimals, and the exponent form String() gives tiny or huge numbers (so toSearch round-trips).
const num = (raw: string) => (/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(raw.trim()) ? Number(raw) : NaN);

/** A number field inside a LIMITS range: the same rule (shared/scales.ts inRange) the run planner applies. */
function rangeField(r: { min: number; max: number }, integer: boolean) {
  return (raw: string): Parsed<number> => {
    const v = num(raw);
    return inRange(v, r, integer) ? ok(v) : bad(`must be ${integer ? 'a whole number' : 'a number'} from ${r.min} to ${r.max}`);
  };
}

function oneOf<T extends string>(options: readonly T[]) {
  return (raw: string): Parsed<T> => {
    const hit = options.find((o) => o === raw);
    return hit !== undefined ? ok(hit) : bad(`must be one of ${options.join(', ')}`);
  };
}

/** `gi=lo,hi`: whole original timesteps, lo <= hi. */
function interval(raw: string): Parsed<GuidanceInterval | null> {
  const r = LIMITS.guidanceInterval;
  const m = /^(\d+),(\d+)$/.exec(raw.trim());
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  return lo >= r.min && hi <= r.max && lo <= hi ? ok([lo, hi] as const) : bad(`must be two whole timesteps lo,hi with ${r.min} <= lo <= hi <= ${r.max}`);
}

// `class`, `scale`, `steps`, `seed`, `sampler`, `pack`, `ep`, plus `cond` and `preview`;
// guidance: `mode` (classifier, cfg, both), `cfg` (classifier-free scale) and `gi` (interval lo,hi).
const FIELDS: Field[] = [
  { key: 'imagenetClass', name: 'class', parse: rangeField(LIMITS.imagenetClass, true) },
  { key: 'classifierScale', name: 'scale', parse: rangeField(LIMITS.classifierScale, false) },
  { key: 'steps', name: 'steps', parse: rangeField(LIMITS.steps, true) },
  { key: 'seed', name: 'seed', parse: rangeField(LIMITS.seed, true) },
  { key: 'sampler', name: 'sampler', parse: oneOf(['ddpm', 'ddim'] as const) },
  { key: 'packId', name: 'pack', parse: (raw) => (/^[\w-]+$/.test(raw) ? ok(raw) : bad('must be a pack id (letters, digits, - and _)')) },
  { key: 'ep', name: 'ep', parse: oneOf(['auto', 'webgpu', 'wasm'] as const) },
  { key: 'conditionUnet', name: 'cond', parse: (raw) => (raw === '1' ? ok(true) : raw === '0' ? ok(false) : bad('must be 0 or 1')) },
  {
    key: 'previewOf',
    name: 'preview',
    parse: (raw) => (raw === 'x' ? ok('x' as const) : raw === 'x0' ? ok('predX0' as const) : bad('must be x or x0')),
  },
  { key: 'guidanceMode', name: 'mode', parse: oneOf(GUIDANCE_MODES) },
  { key: 'cfgScale', name: 'cfg', parse: rangeField(LIMITS.cfgScale, false) },
  { key: 'guidanceInterval', name: 'gi', parse: interval },
  // Views: `view` (single, sweep, diversity), the sweep rows `scales` and `cfgs`, the diversity
  // view's two scales `dscales` and seeds per grid `n`; `grad=mean` takes the gradient at the mean.
  { key: 'view', name: 'view', parse: oneOf(['single', 'sweep', 'diversity', 'tradeoff'] as const) },
  { key: 'sweepScales', name: 'scales', parse: scaleList(LIMITS.classifierScale, LIMITS.sweepScales) },
  { key: 'sweepCfgScales', name: 'cfgs', parse: scaleList(LIMITS.cfgScale, LIMITS.sweepScales) },
  // Classifier or CFG scales, whichever the guidance mode picks: both kinds share the range 0..20.
  { key: 'diversityScales', name: 'dscales', parse: scaleList(LIMITS.classifierScale, { min: 2, max: 2 }) },
  { key: 'diversitySeeds', name: 'n', parse: rangeField(LIMITS.diversitySeeds, true) },
  // The trade-off view's scales `tscales` (of the kind the guidance mode picks) and seeds per scale `tn`.
  { key: 'tradeoffScales', name: 'tscales', parse: scaleList(LIMITS.classifierScale, LIMITS.tradeoffScales) },
  { key: 'tradeoffSeeds', name: 'tn', parse: rangeField(LIMITS.tradeoffSeeds, true) },
  { key: 'gradientAt', name: 'grad', parse: oneOf(['x', 'mean'] as const) },
  // `up=0`: stop after the base model of a pack with an upsampler (the cascade runs by default).
  { key: 'upsample', name: 'up', parse: (raw) => (raw === '1' ? ok(true) : raw === '0' ? ok(false) : bad('must be 0 or 1')) },
  // `fp16=0`: use the pack's fp32 U-Net on WebGPU even where its fp16 one could run.
  { key: 'fp16', name: 'fp16', parse: (raw) => (raw === '1' ? ok(true) : raw === '0' ? ok(false) : bad('must be 0 or 1')) },
];

function scaleList(range: { min: number; max: number }, count: { min: number; max: number }) {
  return (raw: string): Parsed<number[]> => {
    const r = parseScaleList(raw, range, count);
    return r.ok ? ok(r.value) : bad(r.why);
  };
}

const sameList = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, k) => v === b[k]);

export function parseUrlParams(search: string): UrlParse {
  const q = new URLSearchParams(search);
  const values: Partial<Params> = {};
  const errors: string[] = [];
  for (const f of FIELDS) {
    const raw = q.get(f.name);
    if (raw === null) continue;
    const r = f.parse(raw);
    if (r.ok) Object.assign(values, { [f.key]: r.value });
    // The raw value is echoed cut short: a crafted link cannot fill the page with its own text.
    else errors.push(`URL parameter ${f.name}=${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw} ${r.why}; using the default instead.`);
  }
  return { values, errors };
}

/** The query string for `p` (ep only when forced, so shared links stay portable). */
export function toSearch(p: Params): string {
  const q = new URLSearchParams();
  if (p.packId) q.set('pack', p.packId);
  q.set('class', String(p.imagenetClass));
  q.set('scale', String(p.classifierScale));
  q.set('steps', String(p.steps));
  q.set('sampler', p.sampler);
  q.set('seed', String(p.seed));
  if (!p.conditionUnet) q.set('cond', '0');
  if (p.previewOf === 'x') q.set('preview', 'x');
  if (p.guidanceMode !== 'classifier') {
    q.set('mode', p.guidanceMode);
    q.set('cfg', String(p.cfgScale));
  }
  if (p.guidanceInterval) q.set('gi', p.guidanceInterval.join(','));
  if (p.gradientAt !== 'x') q.set('grad', p.gradientAt);
  if (!p.upsample) q.set('up', '0');
  // A view's grid is always in its link; another view's only when it differs from the defaults.
  if (p.view !== 'single') q.set('view', p.view);
  const sweep = p.view === 'sweep';
  const diversity = p.view === 'diversity';
  if (sweep || !sameList(p.sweepScales, GRID_DEFAULTS.sweepScales)) q.set('scales', formatScaleList(p.sweepScales, ','));
  if (sweep || !sameList(p.sweepCfgScales, GRID_DEFAULTS.sweepCfgScales)) q.set('cfgs', formatScaleList(p.sweepCfgScales, ','));
  if (diversity || !sameList(p.diversityScales, GRID_DEFAULTS.diversityScales)) q.set('dscales', formatScaleList(p.diversityScales, ','));
  if (diversity || p.diversitySeeds !== GRID_DEFAULTS.diversitySeeds) q.set('n', String(p.diversitySeeds));
  const tradeoff = p.view === 'tradeoff';
  if (tradeoff) q.set('tscales', formatScaleList(p.tradeoffScales, ','));
  if (tradeoff || p.tradeoffSeeds !== GRID_DEFAULTS.tradeoffSeeds) q.set('tn', String(p.tradeoffSeeds));
  if (p.ep !== 'auto') q.set('ep', p.ep);
  if (!p.fp16) q.set('fp16', '0');
  return `?${q.toString()}`;
}
