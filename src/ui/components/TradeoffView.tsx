// Trade-off: one class, N seeds at each of K scales sampled as one batch, with a chart and a table
// that fill in while it runs: per scale the guidance classifier's mean log p of the class (fidelity)
// and the mean pairwise pixel distance (diversity), and at the end precision and recall against the
// pack's reference features (a pack without them says so). The images stream through GridView's bus;
// the chart reads the small per-step numbers from the store.
import { useEffect, useMemo, useRef } from 'react';
import { LIMITS } from '../../shared/protocol';
import { chartLabel, drawChart, planChart, tradeoffRows, type TradeoffRow } from '../tradeoffChart';
import { useApp } from '../store/store';
import { GridView } from './GridView';
import { NumberField } from './NumberField';
import { ScaleListField } from './ScaleListField';

const W = 720;
const H = 190;
const NO_REFERENCE = 'this pack carries no reference features (make-pack --data writes them), so only fidelity and diversity are shown';

const fmt = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

/** Why precision and recall are (or will be) missing: the run's note, else what the pack lacks. */
function usePrNote(): string | null {
  const note = useApp((s) => s.gridRuns.tradeoff?.readout?.prNote ?? null);
  const hasReference = useApp((s) => (s.manifest ? s.manifest.referenceFeatures !== undefined : true));
  return note ?? (hasReference ? null : NO_REFERENCE);
}

function TradeoffChart({ rows, prNote, canvasRef }: { rows: TradeoffRow[]; prNote: string | null; canvasRef: React.RefObject<HTMLCanvasElement | null> }) {
  const panels = useMemo(() => planChart(rows, W, H, prNote ?? 'precision and recall appear when the run ends'), [rows, prNote]);
  useEffect(() => {
    const ctx = canvasRef.current?.getContext('2d');
    if (ctx) drawChart(ctx, panels, W, H);
  }, [panels, canvasRef]);
  return <canvas ref={canvasRef} width={W} height={H} className="tradeoff-chart" role="img" aria-label={chartLabel(rows, prNote)} />;
}

function TradeoffTable({ rows }: { rows: TradeoffRow[] }) {
  return (
    <table className="tradeoff-table">
      <caption>Per scale: fidelity, diversity, precision and recall</caption>
      <thead>
        <tr>
          <th scope="col">Scale</th>
          <th scope="col">Fidelity: mean log p(class)</th>
          <th scope="col">Diversity: pixel L2</th>
          <th scope="col">Classifier softmax L2</th>
          <th scope="col">Precision</th>
          <th scope="col">Recall</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.title}>
            <th scope="row">{r.title}</th>
            <td>{fmt(r.fidelity)}</td>
            <td>{fmt(r.diversity)}</td>
            <td>{fmt(r.classifierL2)}</td>
            <td>{fmt(r.precision, 2)}</td>
            <td>{fmt(r.recall, 2)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function TradeoffView() {
  const scales = useApp((s) => s.params.tradeoffScales);
  const seeds = useApp((s) => s.params.tradeoffSeeds);
  const mode = useApp((s) => s.params.guidanceMode);
  const setParam = useApp((s) => s.setParam);
  const run = useApp((s) => s.gridRuns.tradeoff);
  const rows = useMemo(() => tradeoffRows(run), [run]);
  const prNote = usePrNote();
  const chart = useRef<HTMLCanvasElement | null>(null);
  const kind = mode === 'cfg' ? 'CFG scales' : 'Scales';
  return (
    <div className="tradeoff-view">
      <div className="grid-settings">
        <ScaleListField label={`${kind} (one row each)`} value={scales} range={LIMITS.classifierScale} count={LIMITS.tradeoffScales} onCommit={(v) => setParam('tradeoffScales', v)} />
        <NumberField label="Seeds per scale" value={seeds} min={LIMITS.tradeoffSeeds.min} max={LIMITS.tradeoffSeeds.max} onCommit={(v) => setParam('tradeoffSeeds', v)} />
      </div>
      <p className="hint">
        Fidelity = the guidance classifier's mean log p of the class for each scale's samples (the predicted x₀ while running, the
        final images at the end; t = 0). Diversity = mean pairwise pixel L2 (RMS, values in [−1, 1]). At the end, precision (share
        of samples inside the real images' k-NN balls) and recall (share of real images inside the samples' balls), k = 3, in the
        classifier's penultimate features against the pack's reference images of the class.
      </p>
      {prNote && <p className="grid-note pr-note">No precision and recall: {prNote}.</p>}
      <figure className="tradeoff-figure">
        <TradeoffChart rows={rows} prNote={prNote} canvasRef={chart} />
        <TradeoffTable rows={rows} />
      </figure>
      <GridView view="tradeoff" exportFigure={() => chart.current} />
    </div>
  );
}
