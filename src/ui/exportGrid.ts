// The exported PNG of a grid view: every cell upscaled (nearest neighbour) with its label under it,
// each row or grid titled (with its diversity read-out), and a header saying what was sampled.
// planExport is pure (tested); drawExport paints a plan onto a 2D context.
import type { GenerateParams } from '../shared/protocol';
import { shortName } from './data/classes';
import type { GridLayout } from './gridRequest';

export interface TextAt {
  text: string;
  x: number;
  y: number;
}

export interface ExportPlan {
  width: number;
  height: number;
  /** Tile size in the export (image size × zoom). */
  tile: number;
  header: TextAt;
  rows: { title: TextAt; tiles: { index: number; x: number; y: number; label: TextAt }[] }[];
  /** Where a figure under the grid goes (the trade-off chart), at its own size; null: none. */
  figure: { x: number; y: number; width: number; height: number } | null;
}

const PAD = 12;
const HEADER = 30;
const TITLE = 24;
const LABEL = 18;

/**
 * Positions for `layout` with `imageSize` px cells, zoomed to at least 128 px; titles may carry notes;
 * `figure`: the size of a picture to place under the grid (the trade-off chart).
 */
export function planExport(
  layout: GridLayout, imageSize: number, header: string, rowNotes: (string | null)[] = [], figure: { width: number; height: number } | null = null,
): ExportPlan {
  const zoom = Math.max(1, Math.ceil(128 / imageSize));
  const tile = imageSize * zoom;
  const cols = Math.max(1, ...layout.rows.map((r) => Math.min(r.cells.length, r.columns ?? r.cells.length)));
  const width = Math.max(PAD + cols * (tile + PAD), figure ? figure.width + 2 * PAD : 0);
  let y = PAD + HEADER;
  const rows = layout.rows.map((r, k) => {
    const perLine = Math.max(1, r.columns ?? r.cells.length);
    const note = rowNotes[k];
    const title = { text: note ? `${r.title} · ${note}` : r.title, x: PAD, y: y + TITLE - 8 };
    y += TITLE;
    const tiles = r.cells.map((c, i) => {
      const x = PAD + (i % perLine) * (tile + PAD);
      const ty = y + Math.floor(i / perLine) * (tile + LABEL + PAD / 2);
      return { index: c.index, x, y: ty, label: { text: c.name, x: x + tile / 2, y: ty + tile + LABEL - 5 } };
    });
    y += Math.ceil(r.cells.length / perLine) * (tile + LABEL + PAD / 2) + PAD / 2;
    return { title, tiles };
  });
  const placed = figure ? { x: PAD, y: y + PAD / 2, width: figure.width, height: figure.height } : null;
  const height = placed ? placed.y + placed.height + PAD : y + PAD / 2;
  return { width, height, tile, header: { text: header, x: PAD, y: PAD + 18 }, rows, figure: placed };
}

/** "English springer (217) · ddim 25 steps · seed 0 · sweep" */
export function exportHeader(p: GenerateParams, view: string): string {
  return `${shortName(p.imagenetClass)} (${p.imagenetClass}) · ${p.sampler} ${p.steps} steps · seed ${p.seed} · ${view}`;
}

/** File name: class, view, scales and seed, e.g. "English_springer-sweep-s0,1,2-w0,3-ddim25-seed0.png". */
export function gridPngName(p: GenerateParams, layout: GridLayout): string {
  const cls = shortName(p.imagenetClass).replace(/\W+/g, '_');
  const what = layout.rows.map((r) => r.title.replace(/\W+/g, '_')).join('-');
  return `${cls}-${layout.view}-${what}-${p.sampler}${p.steps}-seed${p.seed}.png`;
}

export function drawExport(ctx: CanvasRenderingContext2D, plan: ExportPlan, sources: (CanvasImageSource | null)[], figure: CanvasImageSource | null = null): void {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, plan.width, plan.height);
  ctx.fillStyle = '#1d1d1b';
  ctx.font = 'bold 16px system-ui, sans-serif';
  ctx.textAlign = 'left';
  ctx.fillText(plan.header.text, plan.header.x, plan.header.y);
  ctx.imageSmoothingEnabled = false;
  for (const row of plan.rows) {
    ctx.font = 'bold 14px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.fillText(row.title.text, row.title.x, row.title.y);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    for (const t of row.tiles) {
      const src = sources[t.index];
      if (src) ctx.drawImage(src, t.x, t.y, plan.tile, plan.tile);
      else {
        ctx.fillStyle = '#777777';
        ctx.fillRect(t.x, t.y, plan.tile, plan.tile);
        ctx.fillStyle = '#1d1d1b';
      }
      ctx.fillText(t.label.text, t.label.x, t.label.y);
    }
  }
  if (figure && plan.figure) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(figure, plan.figure.x, plan.figure.y, plan.figure.width, plan.figure.height);
  }
}
