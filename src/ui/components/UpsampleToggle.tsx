// "Upsample to S×S": whether a single run goes on through the pack's upsampler (manifest `upsampler`,
// the cascade's second stage). Shown only for a pack with one; the grid views skip it (a note says so).
import { useId } from 'react';
import { useApp } from '../store/store';

export function UpsampleToggle() {
  const id = useId();
  // Primitives only: a selector returning a new object each time would re-render without end.
  const from = useApp((s) => s.manifest?.upsampler?.lowResSize ?? 0);
  const to = useApp((s) => s.manifest?.upsampler?.imageSize ?? 0);
  const upsample = useApp((s) => s.params.upsample);
  const view = useApp((s) => s.params.view);
  const setParam = useApp((s) => s.setParam);
  if (!to) return null;
  return (
    <div className="field check">
      <input id={id} type="checkbox" checked={upsample} onChange={(e) => setParam('upsample', e.target.checked)} />
      <label htmlFor={id}>
        Upsample to {to}×{to}
      </label>
      {view !== 'single' && upsample && (
        <span className="hint">
          The grids stay at {from}×{from}: only the single view runs the upsampler.
        </span>
      )}
    </div>
  );
}
