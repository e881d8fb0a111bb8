// A grid request (sweep or diversity cells) as one batch for the sampling loop: per-cell labels,
// seeds and fixed scales. Pure and tested like planRun, which validates the shared part first.
import { GUIDANCE_MODES, canUseCfg, modeUses, type PackManifest } from '../../shared/manifest';
import { LIMITS, type GenerateParams, type GridRequest } from '../../shared/protocol';
import { inRange } from '../../shared/scales';
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
  const unetLabels = new Int32Array(k);
  const classifierLabels = new Int32Array(k).fill(base.label);
  const nullLabels = new Int32Array(k);
  const classifier = new Float32Array(k);
  const cfg = new Float32Array(k);
  let anyCfg = false;
  cells.forEach((c, i) => {
    const at = `grid cell ${i + 1}`;
    if (!inRange(c.seed, LIMITS.seed, true)) throw new Error(`${at}: seed ${c.seed} is outside ${LIMITS.seed.min}..${LIMITS.seed.max}`);
    if (!GUIDANCE_MODES.includes(c.guidanceMode)) throw new Error(`${at}: guidance mode "${String(c.guidanceMode)}" is not one of ${GUIDANCE_MODES.join(', ')}`);
    if (!inRange(c.classifierScale, LIMITS.classifierScale, false)) {
      throw new Error(`${at}: guidance scale ${c.classifierScale} is outside ${LIMITS.classifierScale.min}..${LIMITS.classifierScale.max}`);
    }
    if (!inRange(c.cfgScale, LIMITS.cfgScale, false)) {
      throw new Error(`${at}: classifier-free guidance scale ${c.cfgScale} is outside ${LIMITS.cfgScale.min}..${LIMITS.cfgScale.max}`);
    }
    const uses = modeUses(c.guidanceMode);
    if (uses.cfg && !canUseCfg(m)) throw new Error(`${at}: pack "${m.name}" cannot use classifier-free guidance (its U-Net has no unconditional label)`);
    if (m.classCond) {
      // As in a single run: classifier-free cells always condition their first branch on the class.
      if (p.conditionUnet || uses.cfg) unetLabels[i] = base.label;
      else if (m.unconditionalLabel !== null) unetLabels[i] = m.unconditionalLabel;
      else throw new Error(`pack "${m.name}" cannot sample unconditionally (it has no unconditional label)`);
    }
    nullLabels[i] = m.unconditionalLabel ?? 0;
    classifier[i] = uses.classifier && m.classifierGrad ? c.classifierScale : 0;
    cfg[i] = uses.cfg ? c.cfgScale : 0;
    anyCfg ||= uses.cfg;
  });
  if (!Array.isArray(grid.groups)) throw new Error('grid groups must be a list of cell index lists');
  for (const g of grid.groups) {
    if (!Array.isArray(g) || g.some((i) => !Number.isInteger(i) || i < 0 || i >= k)) throw new Error(`grid group ${String(g)} must list cells 0..${k - 1}`);
  }
  const first = cells[0];
  return {
    process: base.process,
    shape: [k, 3, m.imageSize, m.imageSize],
    unetLabels: m.classCond ? unetLabels : null,
    // Targets for every cell whenever the pack has a classifier: the loop feeds only the guided cells
    // to the gradient graph, and the final read-out scores every cell.
    classifierLabels: m.classifierGrad ? classifierLabels : null,
    nullLabels: anyCfg ? nullLabels : null,
    guidanceMode: first.guidanceMode,
    guidanceInterval: base.guidanceInterval,
    useDdim: base.useDdim,
    seed: first.seed,
    seeds: cells.map((c) => c.seed),
    cellScales: { classifier, cfg },
    gradientAt: base.gradientAt,
    grid: { view: grid.view, cells: cells.map((c) => ({ ...c })), groups: grid.groups.map((g) => [...g]) },
  };
}
