// Where the classifier gradient is taken in an ancestral (DDPM) step: at xₜ, as the official code
// does, or at the predicted mean μ (openai/guided-diffusion issue #51, which the maintainers called
// a slight bug without a noticeable effect). DDIM takes the score at xₜ by definition (paper Alg. 2).
import { useId } from 'react';
import type { GradientAt } from '../../shared/protocol';
import { useApp } from '../store/store';

const isGradientAt = (v: string): v is GradientAt => v === 'x' || v === 'mean';

export function GradientAtPicker() {
  const id = useId();
  const at = useApp((s) => s.params.gradientAt);
  const ddim = useApp((s) => s.params.sampler === 'ddim');
  const setParam = useApp((s) => s.setParam);
  return (
    <div className="field">
      <label htmlFor={id}>Guidance gradient at</label>
      <select id={id} value={at} disabled={ddim} aria-describedby={ddim ? `${id}-hint` : undefined} onChange={(e) => isGradientAt(e.target.value) && setParam('gradientAt', e.target.value)}>
        <option value="x">xₜ (official code)</option>
        <option value="mean">predicted mean μ (issue #51)</option>
      </select>
      {ddim && (
        <span id={`${id}-hint`} className="hint">
          DDPM only: DDIM takes the score at xₜ.
        </span>
      )}
    </div>
  );
}
