// Classifier-free guidance scale w: ε̂ = ε(x, y) + w·(ε(x, y) − ε(x, ∅)). Changing it during a run takes
// effect from the next step.
import { useId } from 'react';
import { LIMITS } from '../../shared/protocol';
import { useApp } from '../store/store';

export function CfgSlider() {
  const id = useId();
  const scale = useApp((s) => s.params.cfgScale);
  const interval = useApp((s) => s.params.guidanceInterval);
  const setParam = useApp((s) => s.setParam);
  const r = LIMITS.cfgScale;
  return (
    <div className="field">
      <label htmlFor={id}>
        CFG scale w <span className="value">{scale.toFixed(2)}</span>
      </label>
      <input
        id={id}
        type="range"
        aria-label="CFG scale"
        aria-valuetext={scale.toFixed(2)}
        min={r.min}
        max={r.max}
        step={r.step}
        value={scale}
        onChange={(e) => setParam('cfgScale', Number(e.target.value))}
      />
      {interval && (
        <span className="hint">
          Guidance only for timesteps {interval[0]}–{interval[1]} (URL gi).
        </span>
      )}
    </div>
  );
}
