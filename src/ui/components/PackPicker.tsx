// Chooses the model pack; says what the loaded one is and how it runs.
import { useId } from 'react';
import { useApp } from '../store/store';

export function PackPicker() {
  const id = useId();
  const packs = useApp((s) => s.packs);
  const packId = useApp((s) => s.params.packId);
  const setParam = useApp((s) => s.setParam);
  const manifest = useApp((s) => s.manifest);
  const epInfo = useApp((s) => s.epInfo);
  return (
    <div className="pack-picker">
      <label htmlFor={id}>Model pack</label>
      <select id={id} value={packId} disabled={packs.length === 0} onChange={(e) => setParam('packId', e.target.value)}>
        {packs.length === 0 && <option value="">loading list…</option>}
        {packs.map((p) => (
          <option key={p.id} value={p.id}>
            {p.title}
          </option>
        ))}
      </select>
      {manifest && epInfo && (
        <span className="pack-info">
          {manifest.imageSize}×{manifest.imageSize}, {manifest.labels.length} classes,{' '}
          {manifest.classifierGrad ? 'classifier-guided' : 'no classifier'} · {epInfo.ep === 'webgpu' ? 'WebGPU' : 'WebAssembly'}
          {epInfo.fp16 ? ' (fp16 U-Net)' : ''}
        </span>
      )}
    </div>
  );
}
