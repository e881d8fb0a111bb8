// The onnxruntime-node part of the bench: ms per guided DDIM step (U-Net + classifier gradient, batch 1)
// on the CPU EP, through tools/lib/ort.ts and the browser's own sampling loop (src/diffusion).
import { join } from 'node:path';
import { createGaussianRng, createProcessForPack, sampleLoop } from '../../src/diffusion';
import { CliError } from '../lib/cli';
import { openGuidanceSession, openSession, ortClassifierGrad, ortDenoiser } from '../lib/ort';
import { loadPack, takeGraph } from '../lib/pack';
import { log, round, stats } from './report';

/** Threads of the node runs (intra-op), comparable with the browser's wasm EP. */
export const NODE_THREADS = 2;

/**
 * Steps run before the timed ones, in each loop. A session's second run is still slow (the guided loop's
 * gradient graph took 74 ms at its second step against 34 from its fourth), so one warm-up step charged
 * that to the guided loop only: the unguided loop runs after it, on a U-Net already warm.
 */
export const WARM_STEPS = 2;

export async function benchNode(packName: string, steps: number, scaleArg: number | undefined) {
  const pack = await loadPack(join('public/models', packName));
  const m = pack.manifest;
  if (!pack.hasClassifier) throw new CliError(`pack ${m.name} has no classifier gradient graph`);
  const threads = NODE_THREADS;
  const unet = await openSession(takeGraph(pack, 'unet'), threads);
  const cls = await openGuidanceSession(takeGraph(pack, 'classifierGrad'), threads);
  // steps + WARM_STEPS respaced DDIM steps: the first WARM_STEPS are not counted.
  const proc = createProcessForPack(m, `ddim${steps + WARM_STEPS}`);
  const scale = scaleArg ?? m.sampling.classifierScale;
  const label = Int32Array.of(0);
  // One timed loop at the pack's scale (guided), one at scale 0 (the classifier is not called).
  const run = async (s: number): Promise<number[]> => {
    const times: number[] = [];
    let t = performance.now();
    for await (const rec of sampleLoop({
      process: proc, shape: [1, 3, m.imageSize, m.imageSize],
      denoise: ortDenoiser(unet, m.learnSigma ? 6 : 3), unetLabels: m.classCond ? label : null,
      classifierGrad: ortClassifierGrad(cls), classifierLabels: label,
      getClassifierScale: () => s, useDdim: true, rng: createGaussianRng(1, 0),
    })) {
      const now = performance.now();
      const dt = now - t;
      t = now;
      if (rec.step >= WARM_STEPS) times.push(dt);
      if (s !== 0 && rec.classifierScale === 0) throw new Error('the classifier was not called (scale 0?)');
      log(`node ${s === 0 ? 'unguided' : 'guided'} step ${rec.step}/${steps + WARM_STEPS - 1}${rec.step < WARM_STEPS ? ' (warm-up)' : ''}: ${dt.toFixed(1)} ms`);
    }
    return times;
  };
  const times = await run(scale);
  const unguided = await run(0);
  await unet.release();
  await cls.release();
  const guidedStats = stats(times);
  const unguidedStats = stats(unguided);
  return {
    pack: m.name, ep: 'cpu (onnxruntime-node)', threads, batch: 1, steps, scale, msPerStep: guidedStats, stepMs: times.map(round),
    unguidedMsPerStep: unguidedStats, guidedOverUnguided: round(guidedStats.mean / unguidedStats.mean),
  };
}
