// "Upsample to S×S": whether a single run goes on through the pack's upsampler (manifest `upsampler`,
// the cascade's second stage). Shown only for a pack with one; the grid views skip it (a note says so).
import { useId } from 'react';
import { useApp } from '../store/store';

export function UpsampleToggle() {
  const id = useId();
  const sizes = useApp((s) => (s.manifest?.upsampler ? { from: s.manifest.upsampler.lowResSize, to: s.manifest.upsampler.imageSize } : null));
  const from = sizes?.from ?? 0;
  const to = sizes?.to ?? 0;
  const upsample = useApp((s) => s.params.upsample);
  const view = useApp((s) => s.params.view);
  const setParam = useApp((s) => s.setParam);
  if (!sizes) return null;
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
