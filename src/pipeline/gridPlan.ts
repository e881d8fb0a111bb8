// A grid request (sweep, diversity or trade-off cells) as one batch for the sampling loop: per-cell
// labels, seeds and fixed scales. Pure and tested like planRun, which validates the shared part first.
import type { PackManifest } from '../shared/manifest';
import { LIMITS, type GenerateParams, type GridRequest } from '../shared/protocol';
import { inRange } from '../shared/scales';
import { appliedScales, checkModeForPack, checkScale, checkedMode } from './guidance';
import { rowLabels } from './labels';
import type { BasePlan, RunPlan } from './plan';

const VIEWS = ['sweep', 'diversity', 'tradeoff'] as const;

export function planGrid(m: PackManifest, p: GenerateParams, grid: GridRequest, base: BasePlan): RunPlan {
  if (!VIEWS.includes(grid.view)) throw new Error(`grid view "${String(grid.view)}" is not one of ${VIEWS.join(', ')}`);
  const cells = grid.cells;
  const r = LIMITS.gridCells;
  if (!Array.isArray(cells) || cells.length < r.min || cells.length > r.max) {
    throw new Error(`a grid needs ${r.min} to ${r.max} cells (got ${Array.isArray(cells) ? cells.length : 'none'})`);
  }
  const k = cells.length;
  const classifier = new Float32Array(k);
  const cfg = new Float32Array(k);
  const modes = cells.map((c, i) => {
    const at = `grid cell ${i + 1}: `;
    if (!inRange(c.seed, LIMITS.seed, true)) throw new Error(`${at}seed ${c.seed} is outside ${LIMITS.seed.min}..${LIMITS.seed.max}`);
    const mode = checkedMode(c.guidanceMode, at);
    checkScale('classifierScale', c.classifierScale, at);
    checkScale('cfgScale', c.cfgScale, at);
    const s = appliedScales(m, checkModeForPack(m, mode, at), c.classifierScale, c.cfgScale);
    classifier[i] = s.classifier;
    cfg[i] = s.cfg;
    return mode;
  });
  if (!Array.isArray(grid.groups)) throw new Error('grid groups must be a list of cell index lists');
  for (const g of grid.groups) {
    if (!Array.isArray(g) || g.some((i) => !Number.isInteger(i) || i < 0 || i >= k)) throw new Error(`grid group ${String(g)} must list cells 0..${k - 1}`);
  }
  const first = cells[0];
  return {
    process: base.process,
    shape: [k, 3, m.imageSize, m.imageSize],
    // Classifier targets for every cell whenever the pack has a classifier: the loop feeds only the
    // guided cells to the gradient graph, and the final read-out scores every cell.
    labels: new Int32Array(k).fill(base.label),
    ...rowLabels(m, new Int32Array(k).fill(base.label), modes, { conditionUnet: p.conditionUnet, readout: true }),
    guidanceMode: first.guidanceMode,
    uses: checkModeForPack(m, first.guidanceMode),
    guidanceInterval: base.guidanceInterval,
    useDdim: base.useDdim,
    seed: first.seed,
    seeds: cells.map((c) => c.seed),
    cellScales: { classifier, cfg },
    gradientAt: base.gradientAt,
    cascade: null,
    grid: { view: grid.view, cells: cells.map((c) => ({ ...c })), groups: grid.groups.map((g) => [...g]) },
  };
}
