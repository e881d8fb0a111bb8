// A guidance-scale slider (classifier scale s or classifier-free scale w). Changing it during a run
// takes effect from the next step: the worker reads the scale at every step.
import { useId, type ReactNode } from 'react';
import { LIMITS } from '../../shared/protocol';
import type { ScaleKind } from '../../shared/scales';
import { useApp } from '../store/store';

interface Props {
  kind: ScaleKind;
  /** Visible label before the value, and the slider's accessible name. */
  label: string;
  name: string;
  digits: number;
  disabled?: boolean;
  hint?: ReactNode;
}

export function ScaleSlider({ kind, label, name, digits, disabled = false, hint }: Props) {
  const id = useId();
  const scale = useApp((s) => s.params[kind]);
  const setParam = useApp((s) => s.setParam);
  const r = LIMITS[kind];
  return (
    <div className="field">
      <label htmlFor={id}>
        {label} <span className="value">{scale.toFixed(digits)}</span>
      </label>
      <input
        id={id}
        type="range"
        aria-label={name}
        aria-valuetext={scale.toFixed(digits)}
        min={r.min}
        max={r.max}
        step={r.step}
        value={scale}
        disabled={disabled}
        onChange={(e) => setParam(kind, Number(e.target.value))}
      />
      {hint && <span className="hint">{hint}</span>}
    </div>
  );
}
