// A comma list of guidance scales: free typing, commits only a valid list (same rules as the URL).
import { useEffect, useId, useState } from 'react';
import { formatScaleList, parseScaleList } from '../scaleList';

interface Props {
  label: string;
  value: readonly number[];
  range: { min: number; max: number };
  count: { min: number; max: number };
  disabled?: boolean;
  onCommit: (v: number[]) => void;
}

export function ScaleListField({ label, value, range, count, disabled, onCommit }: Props) {
  const id = useId();
  const shown = formatScaleList(value);
  const [draft, setDraft] = useState(shown);
  useEffect(() => setDraft(shown), [shown]);
  const parsed = parseScaleList(draft, range, count);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="text"
        inputMode="decimal"
        spellCheck={false}
        autoComplete="off"
        value={draft}
        disabled={disabled}
        aria-invalid={!parsed.ok}
        aria-describedby={parsed.ok ? undefined : `${id}-err`}
        onChange={(e) => {
          setDraft(e.target.value);
          const r = parseScaleList(e.target.value, range, count);
          if (r.ok) onCommit(r.value);
        }}
        onBlur={() => setDraft(shown)}
      />
      {!parsed.ok && (
        <span id={`${id}-err`} className="field-error">
          {count.min === count.max ? count.min : `${count.min}–${count.max}`} numbers {range.min}–{range.max}, comma-separated
        </span>
      )}
    </div>
  );
}
