// ‖∇ₓ log p(y | ·)‖ per step, beside the log p chart: the raw (unscaled) classifier gradient the
// guidance scale multiplies. Plain SVG from the store's small per-step array.
import { seriesPoints } from '../chartPoints';
import { useApp } from '../store/store';

const W = 280;
const H = 90;
const PAD = 4;

export function GradNormChart() {
  const norms = useApp((s) => s.gradNorm);
  const numSteps = useApp((s) => s.numSteps);
  const series = seriesPoints(norms, numSteps, W, H, PAD);
  const last = norms.filter((v): v is number => v !== null).at(-1);
  if (!series || last === undefined) {
    return (
      <figure className="logp-chart empty">
        <figcaption>‖∇ₓ log p‖ per step appears here while guiding.</figcaption>
      </figure>
    );
  }
  return (
    <figure className="logp-chart">
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`gradient norm per step, latest ${last.toPrecision(4)}`}>
        <rect x={0} y={0} width={W} height={H} className="bg" />
        <polyline points={series.points} className="line grad" />
      </svg>
      <figcaption>
        ‖∇ₓ log p(y | xₜ)‖: <strong>{last.toPrecision(4)}</strong>{' '}
        <span className="range">
          (range {series.lo.toPrecision(3)} … {series.hi.toPrecision(3)})
        </span>
      </figcaption>
    </figure>
  );
}
