// The cells of a grid view, each a figure named after what differs ("scale 4", "seed 3") with its
// own canvas. Frames come from the view's bus, never React state: all cells of a step arrive in one
// buffer and are painted in the next animation frame (putImageData per cell). The grid shows the
// layout of its latest run; before any run, the layout the fields describe.
import { useMemo, useRef, type ComponentType } from 'react';
import { downloadCanvas } from '../download';
import { drawExport, exportHeader, gridPngName, planExport } from '../exportGrid';
import { gridLayout, packCaps, type GridLayout } from '../gridRequest';
import { liveBuses, type GridFrame } from '../liveFrames';
import { useRunFrames } from '../hooks/useRunFrames';
import type { GridViewName } from '../store/gridSlice';
import { useApp } from '../store/store';

function paintCells(canvases: (HTMLCanvasElement | null)[], f: GridFrame, grid: HTMLElement | null): void {
  const tile = f.width * f.height * 4;
  for (let k = 0; k < f.cells; k++) {
    const c = canvases[k];
    if (!c) continue;
    if (c.width !== f.width || c.height !== f.height) {
      c.width = f.width;
      c.height = f.height;
    }
    c.getContext('2d')?.putImageData(new ImageData(f.rgba.subarray(k * tile, (k + 1) * tile), f.width, f.height), 0, 0);
  }
  // Which frame is on screen ("runId:step"), for tests: painting lags the status by up to one frame.
  if (grid) grid.dataset.painted = `${f.runId}:${f.step}`;
}

interface Props {
  view: GridViewName;
  /** Lines under each row or grid (e.g. the diversity read-out) for the exported PNG, read at save time. */
  exportNotes?: () => (string | null)[];
  /** Renders the live line under row `row`; subscribes itself, so the grid does not re-render per step. */
  Note?: ComponentType<{ row: number }>;
  /** A picture Save PNG puts under the grid (the trade-off chart's canvas), read at save time. */
  exportFigure?: () => HTMLCanvasElement | null;
}

/**
 * log p of one cell: the only part of a cell that changes per step in React. Live at x_t while the
 * classifier guides the cell; once the run ends, the classifier's score of the final sample (x_0) for
 * every cell, classifier-free and scale-0 cells included, so the cells compare on one measure.
 */
function CellLogp({ view, index }: { view: GridViewName; index: number }) {
  const final = useApp((s) => s.gridRuns[view]?.readout?.logp?.[index]);
  const live = useApp((s) => s.gridRuns[view]?.logp?.[index]);
  if (final !== undefined && final !== null) return <span className="cell-logp" title="the classifier's log p(y | x₀) of the final sample">log p(x₀) {final.toFixed(2)}</span>;
  return live === undefined || live === null ? null : <span className="cell-logp" title="the classifier's log p(y | xₜ) at this step">log p {live.toFixed(2)}</span>;
}

export function GridView({ view, exportNotes, Note, exportFigure }: Props) {
  // Per-run values only: nothing here changes per step (captions and notes subscribe on their own).
  const layoutOfRun = useApp((s) => s.gridRuns[view]?.layout);
  const runId = useApp((s) => s.gridRuns[view]?.runId ?? -1);
  const hasFrame = useApp((s) => (s.gridRuns[view]?.step ?? 0) > 0);
  const params = useApp((s) => s.params);
  const manifest = useApp((s) => s.manifest);
  const running = useApp((s) => s.runState === 'running' && s.runId === runId);
  const planned = useMemo(() => gridLayout({ ...params, view }, packCaps(manifest)), [params, view, manifest]);
  const layout: GridLayout | null = layoutOfRun ?? planned;
  const size = manifest?.imageSize ?? 64;
  const canvases = useRef<(HTMLCanvasElement | null)[]>([]);
  const gridRef = useRef<HTMLDivElement>(null);

  useRunFrames(liveBuses.grid[view], runId, {
    paint: (f) => paintCells(canvases.current, f, gridRef.current),
    clear: () => {
      for (const c of canvases.current) c?.getContext('2d')?.clearRect(0, 0, c.width, c.height);
      if (gridRef.current) delete gridRef.current.dataset.painted;
    },
  });

  if (!layout) return null;
  const save = () => {
    const f = liveBuses.grid[view].latest();
    if (!f?.params || f.runId !== runId) return;
    const notes = exportNotes?.() ?? [];
    const figure = exportFigure?.() ?? null;
    const plan = planExport(layout, f.width, exportHeader(f.params, view), layout.rows.map((_, k) => notes[k] ?? null), figure);
    const out = document.createElement('canvas');
    out.width = plan.width;
    out.height = plan.height;
    const ctx = out.getContext('2d');
    if (!ctx) return;
    drawExport(ctx, plan, canvases.current, figure);
    downloadCanvas(out, gridPngName(f.params, layout));
  };

  return (
    <div className={`grid-view ${view}`} ref={gridRef}>
      {layout.rows.map((row, r) => (
        <section key={r} role="group" aria-label={row.title} className="grid-row">
          <h3>{row.title}</h3>
          {/* Columns come from the stylesheet (diversity grids are 4 wide, as in row.columns): no inline style under the CSP. */}
          <div className="cells">
            {row.cells.map((c) => (
              <figure key={c.index} aria-label={c.name} className="cell">
                <canvas
                  ref={(el) => {
                    canvases.current[c.index] = el;
                  }}
                  width={size}
                  height={size}
                  role="img"
                  aria-label={`${c.name} image`}
                  className={running ? 'running' : undefined}
                />
                <figcaption>
                  {c.name}
                  <CellLogp view={view} index={c.index} />
                </figcaption>
              </figure>
            ))}
          </div>
          {Note && <Note row={r} />}
        </section>
      ))}
      <div className="buttons">
        <button type="button" disabled={!hasFrame || running} onClick={save}>
          Save PNG
        </button>
      </div>
    </div>
  );
}
