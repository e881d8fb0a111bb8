// A number input that lets the user type freely and only commits valid whole numbers.
import { useEffect, useId, useState } from 'react';

interface Props {
  label: string;
  value: number;
  min: number;
  max: number;
  onCommit: (v: number) => void;
}

export function NumberField({ label, value, min, max, onCommit }: Props) {
  const id = useId();
  const [draft, setDraft] = useState(String(value));
  useEffect(() => setDraft(String(value)), [value]);
  const v = Number(draft);
  const valid = draft.trim() !== '' && Number.isInteger(v) && v >= min && v <= max;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        inputMode="numeric"
        min={min}
        max={max}
        step={1}
        value={draft}
        aria-invalid={!valid}
        aria-describedby={valid ? undefined : `${id}-err`}
        onChange={(e) => {
          setDraft(e.target.value);
          const n = Number(e.target.value);
          if (e.target.value.trim() !== '' && Number.isInteger(n) && n >= min && n <= max) onCommit(n);
        }}
        onBlur={() => setDraft(String(value))}
      />
      {!valid && (
        <span id={`${id}-err`} className="field-error">
          {min}–{max}
        </span>
      )}
    </div>
  );
}
