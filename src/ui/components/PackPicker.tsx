// Chooses the model pack; says what the loaded one is and how it runs.
import { useId } from 'react';
import type { LoadTimings } from '../../shared/protocol';
import { useApp } from '../store/store';

const sec = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** "Ready in 3.10 s: manifest 0.01 s (network) · fetch 1.20 s · ...", the load's profile. */
export function describeProfile(t: LoadTimings): string {
  const phases: [string, number][] = [
    ['fetch', t.fetchMs], ['hash', t.hashMs], ['store', t.storeMs], ['read', t.readMs], ['runtime start-up', t.runtimeMs ?? 0], ['sessions', t.sessionMs], ['warm-up', t.warmupMs],
  ];
  const where = t.fetchedBytes === 0 ? (t.storage === 'opfs' ? ', all from storage' : '') : '';
  return `Ready in ${sec(t.totalMs)}${where}: manifest ${sec(t.manifestMs)} (${t.manifestFrom})` + phases.map(([k, v]) => ` · ${k} ${sec(v)}`).join('');
}

export function PackPicker() {
  const id = useId();
  const packs = useApp((s) => s.packs);
  const packId = useApp((s) => s.params.packId);
  const setParam = useApp((s) => s.setParam);
  const manifest = useApp((s) => s.manifest);
  const epInfo = useApp((s) => s.epInfo);
  const timings = useApp((s) => s.loadTimings);
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
          {epInfo.gpuResidentIo ? ', tensors in GPU buffers' : ''}
          {epInfo.gradientWorkerThreads ? ', classifier gradient in its own worker' : ''}
          {epInfo.fileNote ? ` · ${epInfo.fileNote}` : ''}
        </span>
      )}
      {timings && (
        <p className="pack-info load-profile">
          {describeProfile(timings)}
        </p>
      )}
    </div>
  );
}
