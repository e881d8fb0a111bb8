// Batched steps for the grid views (issue 9), a part of tools/bench.ts: ms per guided step (U-Net +
// classifier gradient on K rows) at batch K, on onnxruntime-node and in Chromium (wasm, the bare ORT
// loop of bench.html), plus the default sweep (6 classifier + 6 CFG cells from one noise) as the app
// runs it: ONE batch per step, the U-Net on 17 rows (12 cells + 5 null-label rows) and the gradient
// graph on the 5 classifier-guided cells only (scale 0 and the CFG row skip it); for comparison the
// same batch with the gradient on all 12 cells (what the app did before), and TWO batches per step
// (classifier row: U-Net 6 + gradient 6; CFG row: U-Net 11, no gradient).
import type { Browser } from '@playwright/test';
import { openGuidanceSession, openSession, ortClassifierGrad, ortDenoiser } from '../lib/ort';
import { loadPack, takeGraph } from '../lib/pack';
import { median, round } from './report';

export interface BatchCall {
  unetRows: number;
  gradRows: number;
}

export interface StepPlan {
  name: string;
  /** Cells the step advances (for ms per cell). */
  cells: number;
  calls: BatchCall[];
}

export function stepPlans(batches: number[]): StepPlan[] {
  return [
    ...batches.map((k) => ({ name: `batch ${k}`, cells: k, calls: [{ unetRows: k, gradRows: k }] })),
    { name: 'sweep 6+6, one batch (app)', cells: 12, calls: [{ unetRows: 17, gradRows: 5 }] },
    { name: 'sweep 6+6, one batch, gradient on all cells', cells: 12, calls: [{ unetRows: 17, gradRows: 12 }] },
    { name: 'sweep 6+6, two batches', cells: 12, calls: [{ unetRows: 6, gradRows: 6 }, { unetRows: 11, gradRows: 0 }] },
  ];
}

export interface BatchRow {
  name: string;
  cells: number;
  calls: BatchCall[];
  /** Median ms of one step (all calls of the plan). */
  msPerStep: number;
  msPerCell: number;
  /** msPerStep over the batch-1 step's. */
  overBatch1: number | null;
}

/** Adds per-cell cost and the ratio to batch 1, and says whether K=6 costs at most 3x a batch-1 step. */
export function summarise(rows: Omit<BatchRow, 'msPerCell' | 'overBatch1'>[]): { rows: BatchRow[]; goalK6Within3x: boolean | null } {
  const one = rows.find((r) => r.name === 'batch 1')?.msPerStep ?? null;
  const out = rows.map((r) => ({ ...r, msPerStep: round(r.msPerStep), msPerCell: round(r.msPerStep / r.cells), overBatch1: one ? round(r.msPerStep / one) : null }));
  const six = out.find((r) => r.name === 'batch 6');
  return { rows: out, goalK6Within3x: six?.overBatch1 != null ? six.overBatch1 <= 3 : null };
}

/** onnxruntime-node, CPU EP: fixed inputs, one warm-up step per plan, then `steps` timed steps. */
export async function benchNodeBatches(packDir: string, batches: number[], steps: number, threads: number, log: (m: string) => void) {
  const pack = await loadPack(packDir);
  const m = pack.manifest;
  if (!pack.hasClassifier) throw new Error(`pack ${m.name} has no classifier gradient graph`);
  const unet = await openSession(takeGraph(pack, 'unet'), threads);
  const cls = await openGuidanceSession(takeGraph(pack, 'classifierGrad'), threads);
  const denoise = ortDenoiser(unet, m.learnSigma ? 6 : 3);
  const grad = ortClassifierGrad(cls);
  const s = m.imageSize;
  const maxRows = Math.max(17, ...batches);
  const x = Float32Array.from({ length: maxRows * 3 * s * s }, (_, k) => Math.sin(k * 12.9898) * 0.9);
  const run = async (c: BatchCall) => {
    const t = new Float32Array(Math.max(c.unetRows, c.gradRows)).fill(500);
    const y = new Int32Array(t.length);
    await denoise(x.subarray(0, c.unetRows * 3 * s * s), t.subarray(0, c.unetRows), m.classCond ? y.subarray(0, c.unetRows) : null, [c.unetRows, 3, s, s]);
    if (c.gradRows > 0) await grad(x.subarray(0, c.gradRows * 3 * s * s), t.subarray(0, c.gradRows), y.subarray(0, c.gradRows), [c.gradRows, 3, s, s]);
  };
  const rows = [];
  for (const plan of stepPlans(batches)) {
    for (const c of plan.calls) await run(c); // warm-up (shape-specific allocations)
    const times: number[] = [];
    for (let k = 0; k < steps; k++) {
      const t0 = performance.now();
      for (const c of plan.calls) await run(c);
      times.push(performance.now() - t0);
    }
    log(`node ${plan.name}: ${median(times).toFixed(1)} ms/step (median of ${steps})`);
    rows.push({ name: plan.name, cells: plan.cells, calls: plan.calls, msPerStep: median(times) });
  }
  await unet.release();
  await cls.release();
  return { pack: m.name, ep: 'cpu (onnxruntime-node)', threads, steps, ...summarise(rows) };
}

type BareBench = (p: string, e: string, n: number, u: number, g: number) => Promise<{ stepMs: number[]; threads: number }>;

/** Chromium, the bare ORT loop of bench.html on `ep` with the given row counts (one worker per call). */
export async function benchBrowserBatches(browser: Browser, url: string, pack: string, ep: 'wasm' | 'webgpu', batches: number[], steps: number, timeoutMs: number, log: (m: string) => void) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(`${url}bench.html`);
    await page.waitForFunction(() => document.body.dataset.benchReady === '1');
    const rows = [];
    let threads = 0;
    for (const plan of stepPlans(batches)) {
      let ms = 0;
      for (const c of plan.calls) {
        const r = await page.evaluate(
          ([p, e, n, u, g, t]) => Promise.race([
            (window as unknown as { bareBench: BareBench }).bareBench(p, e, n, u, g),
            new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`bare loop timed out after ${t} ms`)), t)),
          ]),
          [pack, ep, steps, c.unetRows, c.gradRows, timeoutMs] as const,
        );
        threads = r.threads;
        ms += median(r.stepMs);
      }
      log(`chromium ${ep} ${plan.name}: ${ms.toFixed(1)} ms/step (median of ${steps})`);
      rows.push({ name: plan.name, cells: plan.cells, calls: plan.calls, msPerStep: ms });
    }
    return { pack, ep, wasmThreads: threads, steps, ...summarise(rows) };
  } finally {
    await ctx.close();
  }
}
