// Diversity: one class, N seeds at each of two scales (the kind the guidance mode picks), sampled
// as one batch, with the mean pairwise distance of each grid: in pixels, and in the guidance
// classifier's softmax output.
import { LIMITS } from '../../shared/protocol';
import { diversityNotes } from '../diversityNotes';
import { appStore, useApp } from '../store/store';
import { GridView } from './GridView';
import { NumberField } from './NumberField';
import { ScaleListField } from './ScaleListField';

/** The read-out line under grid `row`; re-renders on its own as the run streams. */
function DiversityNote({ row }: { row: number }) {
  const text = useApp((s) => diversityNotes(s.gridRuns.diversity)[row] ?? null);
  return text ? <p className="grid-note">{text}</p> : null;
}

const exportNotes = () => diversityNotes(appStore.getState().gridRuns.diversity);

export function DiversityView() {
  const scales = useApp((s) => s.params.diversityScales);
  const seeds = useApp((s) => s.params.diversitySeeds);
  const mode = useApp((s) => s.params.guidanceMode);
  const setParam = useApp((s) => s.setParam);
  const kind = mode === 'cfg' ? 'CFG scales' : 'Scales';
  return (
    <div className="diversity-view">
      <div className="grid-settings">
        <ScaleListField
          label={`${kind} (two grids)`}
          value={scales}
          range={LIMITS.classifierScale}
          count={{ min: 2, max: 2 }}
          onCommit={(v) => setParam('diversityScales', v)}
        />
        <NumberField label="Seeds per grid" value={seeds} min={LIMITS.diversitySeeds.min} max={LIMITS.diversitySeeds.max} onCommit={(v) => setParam('diversitySeeds', v)} />
      </div>
      <p className="hint">
        Diversity = mean distance over all pairs of a grid: pixel L2 is the root-mean-square difference of the images (values in
        [−1, 1]); classifier softmax L2 is the Euclidean distance of the guidance classifier's class probabilities for the
        final images (at t = 0).
      </p>
      <GridView view="diversity" Note={DiversityNote} exportNotes={exportNotes} />
    </div>
  );
}
