// Classifier guidance scale s (the gradient of log p(y|x_t) is multiplied by s). Changing it
// during a run takes effect from the next step.
import { useId } from 'react';
import { LIMITS } from '../../shared/protocol';
import { useApp } from '../store/store';

export function GuidanceSlider() {
  const id = useId();
  const scale = useApp((s) => s.params.classifierScale);
  const setParam = useApp((s) => s.setParam);
  const guided = useApp((s) => s.manifest === null || s.manifest.classifierGrad !== undefined);
  const r = LIMITS.classifierScale;
  return (
    <div className="field">
      <label htmlFor={id}>
        Guidance scale <span className="value">{scale.toFixed(1)}</span>
      </label>
      <input
        id={id}
        type="range"
        aria-label="Guidance scale"
        aria-valuetext={scale.toFixed(1)}
        min={r.min}
        max={r.max}
        step={r.step}
        value={scale}
        disabled={!guided}
        onChange={(e) => setParam('classifierScale', Number(e.target.value))}
      />
      {!guided && <span className="hint">This pack has no classifier, so it cannot be guided.</span>}
    </div>
  );
}
