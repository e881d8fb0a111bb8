// What each view samples: the sweep's rows and the diversity view's two grids as labelled cells,
// and the GenerateParams Generate sends for the current view. One layout serves the request, the
// on-screen grid, the accessible names and the exported PNG, so they cannot disagree.
import { canUseCfg, type PackManifest } from '../shared/manifest';
import { LIMITS, type GenerateParams, type GridCell } from '../shared/protocol';
import type { Params } from './store/paramsSlice';

export interface LayoutCell {
  /** Index of the cell in the batch. */
  index: number;
  /** Accessible name and label: what differs from the neighbours, e.g. "scale 4" or "seed 3". */
  name: string;
  cell: GridCell;
}

export interface LayoutRow {
  /** Names the row (sweep) or grid (diversity), e.g. "Classifier guidance" or "scale 8". */
  title: string;
  cells: LayoutCell[];
  /** Index of this row's diversity group (diversity grids), else null. */
  group: number | null;
  /** Cells per visual row when the row wraps (diversity grids are 4 wide); null: one line. */
  columns: number | null;
}

export interface GridLayout {
  view: 'sweep' | 'diversity' | 'tradeoff';
  rows: LayoutRow[];
  cells: GridCell[];
  groups: number[][];
}

/** What the pack allows (a pack still loading: assume both kinds, the worker checks again). */
export interface PackCaps {
  cfg: boolean;
  classifier: boolean;
}

export function packCaps(m: PackManifest | null): PackCaps {
  return { cfg: m === null || canUseCfg(m), classifier: m === null || m.classifierGrad !== undefined };
}

const seedAt = (seed: number, k: number) => (seed + k) % (LIMITS.seed.max + 1);

/** Sweep: one seed, a row of classifier scales and (when the pack allows) a row of CFG scales. */
export function sweepLayout(p: Params, caps: PackCaps): GridLayout {
  const rows: LayoutRow[] = [];
  const cells: GridCell[] = [];
  const add = (title: string, entries: { name: string; cell: GridCell }[]) => {
    rows.push({ title, group: null, columns: null, cells: entries.map((e) => ({ ...e, index: cells.push(e.cell) - 1 })) });
  };
  if (caps.classifier || !caps.cfg) {
    add('Classifier guidance', p.sweepScales.map((s) => ({
      name: `scale ${s}`, cell: { seed: p.seed, guidanceMode: 'classifier', classifierScale: s, cfgScale: 0 },
    })));
  }
  if (caps.cfg) {
    add('Classifier-free guidance', p.sweepCfgScales.map((w) => ({
      name: `CFG scale ${w}`, cell: { seed: p.seed, guidanceMode: 'cfg', classifierScale: 0, cfgScale: w },
    })));
  }
  return { view: 'sweep', rows, cells, groups: [] };
}

/** Diversity: seeds seed, seed+1, ... at each of the two scales (of the kind the guidance mode picks). */
export function diversityLayout(p: Params, caps: PackCaps): GridLayout {
  return seedGrids('diversity', p.diversityScales, p.diversitySeeds, 4, p, caps);
}

/** Trade-off: N seeds at each of K scales (of the kind the guidance mode picks), one line and one group per scale. */
export function tradeoffLayout(p: Params, caps: PackCaps): GridLayout {
  return seedGrids('tradeoff', p.tradeoffScales, p.tradeoffSeeds, null, p, caps);
}

/** Seeds seed, seed+1, ... at each scale, one row and one group per scale. */
function seedGrids(view: 'diversity' | 'tradeoff', scales: readonly number[], seeds: number, columns: number | null, p: Params, caps: PackCaps): GridLayout {
  const mode = caps.cfg ? p.guidanceMode : 'classifier';
  const rows: LayoutRow[] = [];
  const cells: GridCell[] = [];
  const groups: number[][] = [];
  for (const v of scales) {
    const cell = (seed: number): GridCell =>
      mode === 'classifier' ? { seed, guidanceMode: mode, classifierScale: v, cfgScale: 0 }
        : mode === 'cfg' ? { seed, guidanceMode: mode, classifierScale: 0, cfgScale: v }
          : { seed, guidanceMode: mode, classifierScale: v, cfgScale: p.cfgScale };
    const title = mode === 'classifier' ? `scale ${v}` : mode === 'cfg' ? `CFG scale ${v}` : `scale ${v}, CFG scale ${p.cfgScale}`;
    const row: LayoutRow = { title, group: groups.length, columns, cells: [] };
    for (let k = 0; k < seeds; k++) {
      const c = cell(seedAt(p.seed, k));
      row.cells.push({ index: cells.push(c) - 1, name: `seed ${c.seed}`, cell: c });
    }
    groups.push(row.cells.map((c) => c.index));
    rows.push(row);
  }
  return { view, rows, cells, groups };
}

export function gridLayout(p: Params, caps: PackCaps): GridLayout | null {
  if (p.view === 'sweep') return sweepLayout(p, caps);
  if (p.view === 'diversity') return diversityLayout(p, caps);
  if (p.view === 'tradeoff') return tradeoffLayout(p, caps);
  return null;
}

/** The request Generate sends: the shared fields, plus the grid of the current view. */
export function buildRequest(p: Params, m: PackManifest | null): GenerateParams {
  return planView(p, m).request;
}

/** The request and, for a grid view, the layout it samples. */
export function planView(p: Params, m: PackManifest | null): { request: GenerateParams; layout: GridLayout | null } {
  const request: GenerateParams = {
    imagenetClass: p.imagenetClass, classifierScale: p.classifierScale, steps: p.steps, sampler: p.sampler, seed: p.seed,
    conditionUnet: p.conditionUnet, previewOf: p.previewOf, guidanceMode: p.guidanceMode, cfgScale: p.cfgScale,
    guidanceInterval: p.guidanceInterval, gradientAt: p.gradientAt, upsample: p.upsample,
  };
  const layout = gridLayout(p, packCaps(m));
  if (layout) request.grid = { view: layout.view, cells: layout.cells, groups: layout.groups };
  return { request, layout };
}
