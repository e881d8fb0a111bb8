// The Trade-off view's numbers per scale and its chart: fidelity (the guidance classifier's mean
// log p of the class), diversity (mean pairwise pixel L2) and, at the end, precision and recall
// against the pack's reference features. tradeoffRows and planChart are pure (tested); drawChart
// paints a plan on a 2D context (the page's canvas and the exported PNG).
import type { GridRunInfo } from './store/gridSlice';

export interface TradeoffRow {
  /** The row's scale, as the grid titles it ("scale 4", "CFG scale 3"). */
  title: string;
  /** Mean log p(y | x̂₀) over the row's cells: of the final samples once done, else live. */
  fidelity: number | null;
  /** Mean pairwise pixel L2 (RMS, values in [−1, 1]): of the final samples once done, else live. */
  diversity: number | null;
  /** Mean pairwise L2 of the classifier's softmax vectors of the final samples. */
  classifierL2: number | null;
  precision: number | null;
  recall: number | null;
}

const at = (v: readonly (number | null)[] | null | undefined, i: number): number | null => {
  const x = v?.[i];
  return x === undefined || x === null || !Number.isFinite(x) ? null : x;
};

export function tradeoffRows(run: GridRunInfo | undefined): TradeoffRow[] {
  if (!run) return [];
  const done = run.readout;
  return run.layout.rows.map((row) => {
    const g = row.group ?? -1;
    const cellLogp = done?.logp ? row.cells.map((c) => done.logp?.[c.index] ?? NaN) : null;
    const finalFidelity = cellLogp && cellLogp.every(Number.isFinite) ? cellLogp.reduce((a, b) => a + b, 0) / cellLogp.length : null;
    return {
      title: row.title,
      fidelity: finalFidelity ?? at(run.groupLogp, g),
      diversity: done ? at(done.pixelL2, g) : at(run.pixelDiversity, g),
      classifierL2: at(done?.classifierL2, g),
      precision: at(done?.precision, g),
      recall: at(done?.recall, g),
    };
  });
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface PlannedSeries {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface PlannedPanel {
  box: Box;
  title: string;
  yTicks: { y: number; label: string }[];
  xLabels: { x: number; label: string }[];
  series: PlannedSeries[];
  /** Shown instead of points (e.g. why precision and recall are missing). */
  message: string | null;
}

export const COLORS = { fidelity: '#1f77b4', diversity: '#d62728', precision: '#2ca02c', recall: '#ff7f0e' } as const;

const TITLE_H = 18;
const AXIS_W = 40;
const AXIS_H = 16;

/** Three panels side by side in width × height: fidelity, diversity, precision and recall against the scale. */
export function planChart(rows: readonly TradeoffRow[], width: number, height: number, prMessage: string | null): PlannedPanel[] {
  const pw = width / 3;
  const labels = rows.map((r) => r.title.replace(/^(CFG )?scale /, ''));
  const panel = (k: number, title: string, series: { name: string; color: string; values: (number | null)[] }[], range: [number, number] | null, message: string | null): PlannedPanel => {
    const box = { x: k * pw + AXIS_W, y: TITLE_H, w: pw - AXIS_W - 8, h: height - TITLE_H - AXIS_H - 4 };
    const finite = series.flatMap((s) => s.values).filter((v): v is number => v !== null);
    let [lo, hi] = range ?? (finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 1]);
    if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5];
    const px = (i: number) => box.x + (rows.length > 1 ? (i / (rows.length - 1)) * box.w : box.w / 2);
    const py = (v: number) => box.y + ((hi - v) / (hi - lo)) * box.h;
    return {
      box, title, message,
      yTicks: [lo, (lo + hi) / 2, hi].map((v) => ({ y: py(v), label: Math.abs(hi - lo) >= 10 ? v.toFixed(0) : v.toFixed(2) })),
      xLabels: labels.map((label, i) => ({ x: px(i), label })),
      series: message ? [] : series.map((s) => ({
        name: s.name, color: s.color,
        points: s.values.flatMap((v, i) => (v === null ? [] : [{ x: px(i), y: py(v) }])),
      })),
    };
  };
  const haveRecall = rows.some((r) => r.precision !== null || r.recall !== null);
  return [
    panel(0, 'Fidelity: mean log p(class | x̂₀)', [{ name: 'log p', color: COLORS.fidelity, values: rows.map((r) => r.fidelity) }], null, null),
    panel(1, 'Diversity: pixel L2 (RMS)', [{ name: 'pixel L2', color: COLORS.diversity, values: rows.map((r) => r.diversity) }], null, null),
    panel(2, 'Precision and recall', [
      { name: 'precision', color: COLORS.precision, values: rows.map((r) => r.precision) },
      { name: 'recall', color: COLORS.recall, values: rows.map((r) => r.recall) },
    ], [0, 1], haveRecall ? null : prMessage),
  ];
}

/** The chart's accessible name: what it shows, and its state. */
export function chartLabel(rows: readonly TradeoffRow[], prMessage: string | null): string {
  const done = rows.some((r) => r.precision !== null);
  const what = 'Trade-off chart: fidelity (mean log p of the class) and diversity (pixel L2) per scale';
  return `${what}${done ? ', with precision and recall' : prMessage ? `; no precision and recall: ${prMessage}` : ''}`;
}

export function drawChart(ctx: CanvasRenderingContext2D, panels: readonly PlannedPanel[], width: number, height: number): void {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  for (const p of panels) {
    const { box } = p;
    ctx.strokeStyle = '#999999';
    ctx.lineWidth = 1;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    ctx.fillStyle = '#1d1d1b';
    ctx.font = 'bold 12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(p.title, box.x + box.w / 2, TITLE_H - 5);
    ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'right';
    for (const t of p.yTicks) ctx.fillText(t.label, box.x - 4, t.y + 3);
    ctx.textAlign = 'center';
    for (const l of p.xLabels) ctx.fillText(l.label, l.x, box.y + box.h + 12);
    if (p.message) {
      ctx.fillStyle = '#666666';
      wrapText(ctx, p.message, box.x + box.w / 2, box.y + 20, box.w - 8, 13);
      continue;
    }
    p.series.forEach((s, k) => {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.points.forEach((pt, i) => (i === 0 ? ctx.moveTo(pt.x, pt.y) : ctx.lineTo(pt.x, pt.y)));
      ctx.stroke();
      for (const pt of s.points) ctx.fillRect(pt.x - 3, pt.y - 3, 6, 6);
      if (p.series.length > 1) {
        ctx.textAlign = 'left';
        ctx.fillText(s.name, box.x + 4, box.y + 12 + 12 * k);
      }
    });
  }
}

function wrapText(ctx: CanvasRenderingContext2D, text: string, cx: number, y: number, maxWidth: number, lineHeight: number): void {
  ctx.textAlign = 'center';
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (ctx.measureText(next).width > maxWidth && line) {
      ctx.fillText(line, cx, y);
      line = word;
      y += lineHeight;
    } else line = next;
  }
  if (line) ctx.fillText(line, cx, y);
}
