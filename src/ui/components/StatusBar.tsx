// One live line: what the app is doing and "step k / N". Screen readers hear it (role=status).
import { formatBytes } from '../../shared/bytes';
import type { AppState } from '../store/store';
import { useApp } from '../store/store';

const mb = (b: number) => (b / 1e6).toFixed(b < 1e7 ? 2 : 1);

/** "12 s", "3 min 5 s", "1 h 2 min". */
export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The status line's text for a state (exported for tests). */
export function statusText(s: AppState): string {
  if (s.packStatus === 'loading') {
    if (s.loadStage === 'waiting') {
      return `Loading pack: waiting for another tab of this app, which is storing ${s.waitingFor ?? 'this pack'}; it is read from storage once that tab is done…`;
    }
    if (s.loadStage === 'sessions') return 'Loading pack: creating the ONNX Runtime sessions…';
    if (s.loadStage === 'warmup') return 'Loading pack: preparing the models (warm-up run)…';
    const p = s.progress;
    if (!p || p.loaded >= p.total) return 'Loading pack: preparing the models (warm-up run)…';
    const pct = Math.floor((100 * p.loaded) / p.total);
    const extra: string[] = [];
    if (p.fromCache) extra.push('from storage');
    else {
      if (p.resumedAt) extra.push(`resumed at ${mb(p.resumedAt)} MB`);
      if (p.bytesPerSec) extra.push(`${formatBytes(p.bytesPerSec)}/s`);
      if (p.etaSec !== null && p.etaSec !== undefined) extra.push(`${formatDuration(p.etaSec)} left`);
    }
    return `Loading pack: ${pct}% (${[p.file, `${mb(p.loaded)} of ${mb(p.total)} MB`, ...extra].join(', ')})`;
  }
  if (s.packStatus === 'error') return 'The pack could not be loaded.';
  if (s.packStatus === 'none') return 'Waiting for a model pack…';
  const steps = `step ${s.step} / ${s.runState === 'idle' ? s.params.steps : s.numSteps}`;
  if (s.runState !== 'idle' && s.stage === 'upsample') {
    // The cascade's second stage: the base model is done, the upsampler counts its own steps.
    const up = `upsampling step ${s.upsampleStep} / ${s.upsampleSteps}`;
    switch (s.runState) {
      case 'running':
        return `Generating · ${up}`;
      case 'done':
        return `Done in ${((s.runMs ?? 0) / 1000).toFixed(1)} s · ${steps} · upsampled in ${s.upsampleSteps} steps`;
      case 'cancelled':
        return `Stopped · ${up}`;
      case 'error':
        return `Run failed · ${up}`;
    }
  }
  switch (s.runState) {
    case 'idle':
      return `Ready · ${steps}`;
    case 'running':
      return `Generating · ${steps}`;
    case 'done':
      return `Done in ${((s.runMs ?? 0) / 1000).toFixed(1)} s · ${steps}`;
    case 'cancelled':
      return `Stopped · ${steps}`;
    case 'error':
      return `Run failed · ${steps}`;
  }
}

export function StatusBar() {
  const text = useApp(statusText);
  const runId = useApp((s) => s.runId);
  const loading = useApp((s) => s.packStatus === 'loading' && s.progress !== null);
  const loaded = useApp((s) => s.progress?.loaded ?? 0);
  const total = useApp((s) => s.progress?.total ?? 0);
  return (
    <div className="status-bar">
      {/* data-run-id lets tests tell one finished run from the next. */}
      <p role="status" aria-live="polite" data-run-id={runId}>
        {text}
      </p>
      {loading && <progress aria-label="Download progress" max={total} value={loaded} />}
    </div>
  );
}
