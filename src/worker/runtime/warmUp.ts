// The warm-up at the end of a pack load: the costs of a graph's first call at given shapes, paid
// before the user presses Generate.
import { canUseCfg, modeUses, type PackManifest } from '../../shared/manifest';
import type { ModelSessions, UpsamplerSession } from './sessions';

/**
 * One call of each graph at the shapes of the pack's default first step (the U-Net on two rows when
 * its default mode adds a classifier-free null-label row), so shader compilation and kernel and
 * buffer set-up for those shapes are not charged to the first step after Generate. On WebGPU the
 * upsampler too (its shaders); on wasm its first call costs little extra and a big one is slow.
 */
export async function warmUp(m: PackManifest, s: ModelSessions, up: UpsamplerSession | null, ep: 'webgpu' | 'wasm'): Promise<number> {
  const t0 = performance.now();
  const plane = 3 * m.imageSize * m.imageSize;
  const rows = canUseCfg(m) && modeUses(m.sampling.guidanceMode ?? 'classifier').cfg ? 2 : 1;
  const t = new Float32Array(rows).fill(m.diffusion.diffusionSteps - 1);
  const y = new Int32Array(rows);
  if (rows === 2 && m.unconditionalLabel !== null) y[1] = m.unconditionalLabel;
  // Both at once, as a step asks for them (the gradient graph may have an ORT instance of its own).
  await Promise.all([
    s.denoise(new Float32Array(rows * plane), t, m.classCond ? y : null, [rows, 3, m.imageSize, m.imageSize]),
    s.classifierGrad?.(new Float32Array(plane), t.subarray(0, 1), y.subarray(0, 1), [1, 3, m.imageSize, m.imageSize]),
  ]);
  const u = m.upsampler;
  if (up && u && ep === 'webgpu') {
    const size = u.imageSize;
    await up.denoiseWith(new Float32Array(3 * u.lowResSize * u.lowResSize))(
      new Float32Array(3 * size * size), Float32Array.of(u.diffusion.diffusionSteps - 1), u.classCond ? Int32Array.of(0) : null, [1, 3, size, size],
    );
  }
  return performance.now() - t0;
}
