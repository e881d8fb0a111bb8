// Sweep: one class, one seed, a row of classifier scales and (when the pack has a null label) a row
// of classifier-free scales from the same noise, sampled together as one batch.
import { LIMITS } from '../../shared/protocol';
import { packCaps } from '../gridRequest';
import { useApp } from '../store/store';
import { GridView } from './GridView';
import { ScaleListField } from './ScaleListField';

export function SweepView() {
  const scales = useApp((s) => s.params.sweepScales);
  const cfgScales = useApp((s) => s.params.sweepCfgScales);
  const caps = packCaps(useApp((s) => s.manifest));
  const setParam = useApp((s) => s.setParam);
  return (
    <div className="sweep-view">
      <div className="grid-settings">
        <ScaleListField
          label="Classifier scales"
          value={scales}
          range={LIMITS.classifierScale}
          count={LIMITS.sweepScales}
          disabled={!caps.classifier}
          onCommit={(v) => setParam('sweepScales', v)}
        />
        <ScaleListField
          label="CFG scales"
          value={cfgScales}
          range={LIMITS.cfgScale}
          count={LIMITS.sweepScales}
          disabled={!caps.cfg}
          onCommit={(v) => setParam('sweepCfgScales', v)}
        />
      </div>
      {!caps.cfg && <p className="hint">This pack's U-Net has no null label: only the classifier row is swept.</p>}
      <GridView view="sweep" />
    </div>
  );
}
