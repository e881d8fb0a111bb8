// log p(y | x_t) of the target class after each step: how strongly the classifier already sees
// the class in the noisy sample. Plain SVG, redrawn from the store's small per-step array.
import { useApp } from '../store/store';

const W = 280;
const H = 90;
const PAD = 4;

export function LogpChart() {
  const logp = useApp((s) => s.logp);
  const numSteps = useApp((s) => s.numSteps);
  const step = useApp((s) => s.step);
  const appliedScale = useApp((s) => s.appliedScale);
  const appliedCfg = useApp((s) => s.appliedCfgScale);
  const values = logp.filter((v): v is number => v !== null);
  const last = values.at(-1);
  if (values.length === 0) {
    return (
      <figure className="logp-chart empty">
        <figcaption>log p(y | xₜ) per step appears here while guiding.</figcaption>
      </figure>
    );
  }
  const lo = Math.min(...values);
  const hi = Math.max(...values, lo + 1e-6);
  const n = Math.max(numSteps, logp.length, 2);
  const pts = logp
    .map((v, i) => (v === null ? null : `${PAD + (i / (n - 1)) * (W - 2 * PAD)},${PAD + ((hi - v) / (hi - lo)) * (H - 2 * PAD)}`))
    .filter((p): p is string => p !== null)
    .join(' ');
  return (
    <figure className="logp-chart">
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`log p(y | x_t) per step, latest ${last?.toFixed(3)}`}>
        <rect x={0} y={0} width={W} height={H} className="bg" />
        <polyline points={pts} className="line" />
      </svg>
      <figcaption>
        log p(y | xₜ): <strong>{last?.toFixed(3)}</strong> <span className="range">(range {lo.toFixed(2)} … {hi.toFixed(2)})</span>
        {appliedScale !== null && (
          <span className="applied">
            {' '}
            · scale {appliedScale.toFixed(1)}
            {appliedCfg ? ` and CFG w ${appliedCfg.toFixed(2)}` : ''} applied at step {step}
          </span>
        )}
      </figcaption>
    </figure>
  );
}
