// Banners: the execution provider when WebGPU is not used, load/run errors, and notices.
import { useApp } from '../store/store';

function EpBanner() {
  const epInfo = useApp((s) => s.epInfo);
  if (!epInfo) return null;
  if (epInfo.ep === 'wasm') {
    return (
      <div className="banner warning" role="note" aria-label="Execution provider">
        <strong>WebGPU is not in use</strong>: {epInfo.reason}. Running on WebAssembly (CPU, {epInfo.wasmThreads}{' '}
        {epInfo.wasmThreads === 1 ? 'thread' : 'threads'}), which is slower.
      </div>
    );
  }
  if (/software|swiftshader/i.test(`${epInfo.adapter}`)) {
    return (
      <div className="banner warning" role="note" aria-label="Execution provider">
        WebGPU runs on a software adapter ({epInfo.adapter}); expect it to be very slow.
      </div>
    );
  }
  return null;
}

export function Notices() {
  const loadError = useApp((s) => s.loadError);
  const runError = useApp((s) => s.runError);
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismissNotice);
  return (
    <div className="notices">
      <EpBanner />
      {loadError && (
        <div className="banner error" role="alert">
          <strong>Could not load the model pack</strong>: {loadError}. Pick another pack or reload the page.
        </div>
      )}
      {runError && (
        <div className="banner error" role="alert">
          <strong>The run failed</strong>: {runError}
        </div>
      )}
      {notices.map((n) => (
        <div key={n.id} className={`banner ${n.level}`} role={n.level === 'error' ? 'alert' : 'note'}>
          {n.text}{' '}
          <button type="button" className="dismiss" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
