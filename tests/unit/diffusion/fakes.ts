// Analytic stand-ins for the networks, mirrored exactly in tests/fixtures/make_diffusion_fixtures.py
// (fake_denoise, fake_grad), so whole sampling loops can be compared with the Python reference.
import type { ClassifierGradFn, DenoiseFn, Shape4 } from '../../../src/diffusion';

export function fakeDenoise(learnSigma: boolean): DenoiseFn {
  return async (x: Float32Array, timesteps: Float32Array, y: Int32Array | null, shape: Shape4) => {
    const [n, c, h, w] = shape;
    const hw = h * w;
    const oc = learnSigma ? 2 * c : c;
    const out = new Float32Array(n * oc * hw);
    for (let s = 0; s < n; s++) {
      const t = timesteps[s];
      const yy = y ? y[s] : 0;
      for (let ch = 0; ch < c; ch++) {
        for (let p = 0; p < hw; p++) {
          const xv = x[(s * c + ch) * hw + p];
          out[(s * oc + ch) * hw + p] = 0.5 * xv + 0.1 * Math.sin(t / 100 + ch) + 0.05 * yy;
          if (learnSigma) out[(s * oc + c + ch) * hw + p] = Math.tanh(0.5 * xv) * 0.8 + (t / 1000) * 0.1;
        }
      }
    }
    return out;
  };
}

export const fakeGrad: ClassifierGradFn = async (x, timesteps, y, shape) => {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  const grad = new Float32Array(x.length);
  const logp = new Float32Array(n);
  for (let s = 0; s < n; s++) {
    const target = 0.3 * y[s] - 0.3;
    const k = 0.5 + timesteps[s] / 2000;
    let sq = 0;
    for (let j = s * per; j < (s + 1) * per; j++) {
      grad[j] = (target - x[j]) * k;
      sq += (x[j] - target) ** 2;
    }
    logp[s] = -0.5 * k * sq;
  }
  return { grad, logp };
};
