// Which guidance steers the run: the classifier's gradient, classifier-free guidance (the U-Net with
// and without the class, one batch of 2), or both. A native radio group: Tab reaches the checked
// option, the arrow keys move between options. Classifier-free needs a pack whose U-Net was trained
// with a null label (manifest unconditionalLabel); for other packs those options are disabled.
import { useId } from 'react';
import { canUseCfg, type GuidanceMode } from '../../shared/manifest';
import { useApp } from '../store/store';

const OPTIONS: { mode: GuidanceMode; label: string }[] = [
  { mode: 'classifier', label: 'Classifier' },
  { mode: 'cfg', label: 'Classifier-free' },
  { mode: 'both', label: 'Both' },
];

export function GuidanceModePicker() {
  const name = useId();
  const mode = useApp((s) => s.params.guidanceMode);
  const setParam = useApp((s) => s.setParam);
  const cfgOk = useApp((s) => s.manifest === null || canUseCfg(s.manifest));
  return (
    <fieldset className="field mode-picker">
      <legend>Guidance</legend>
      <div className="radio-row">
        {OPTIONS.map((o) => {
          const disabled = o.mode !== 'classifier' && !cfgOk;
          return (
            <label key={o.mode} className={disabled ? 'disabled' : undefined}>
              <input
                type="radio"
                name={name}
                value={o.mode}
                checked={mode === o.mode}
                disabled={disabled}
                onChange={() => setParam('guidanceMode', o.mode)}
              />
              {o.label}
            </label>
          );
        })}
      </div>
      {!cfgOk && <span className="hint">This pack's U-Net has no null label, so it cannot use classifier-free guidance.</span>}
    </fieldset>
  );
}
