// Runs one sample, or one grid of cells as a single batch, at a time with injected model functions
// (ORT in the worker, fakes in tests).
// Latest wins: a new generate cancels the active run between steps and waits for it to end.
// Guidance scales (classifier and classifier-free) and the preview choice are read every step, so
// changes apply without a restart. The guidance mode is fixed for a run.
import { NonFiniteError, createGaussianRng, sampleLoop, type ClassifierGradFn, type DenoiseFn, type Shape4 } from '../../diffusion';
import { baseThenUpsample, planRun } from '../../pipeline';
import type { PackManifest } from '../../shared/manifest';
import { type FromWorker, type GenerateParams, type PreviewOf } from '../../shared/protocol';
import { scaleProblem } from '../../shared/scales';
import { gridFrame, gridReadout, singleFrame, upsampleFrame } from './frameMessages';
import type { ClassifierReadoutFn } from '../runtime/sessions';
import { groupMeanLogp, groupPrecisionRecall, type ReferenceFeatureSet } from './tradeoff';

export interface RunModel {
  manifest: PackManifest;
  denoise: DenoiseFn;
  classifierGrad: ClassifierGradFn | null;
  /** The gradient graph's logits and features at given timesteps (grid read-outs); absent: no classifier read-out. */
  classifierReadout?: ClassifierReadoutFn | null;
  /** The pack's reference features (Trade-off view's precision/recall); absent or null: none. */
  reference?: ReferenceFeatureSet | null;
  /**
   * The cascade's second stage (manifest `upsampler`): a DenoiseFn fed the base samples as low_res.
   * Absent or null: single runs stop after the base model.
   */
  upsampler?: { denoiseWith(lowRes: Float32Array): DenoiseFn } | null;
  /** The U-Net in use is a float16 graph: a non-finite output then says how to run the fp32 one. */
  fp16Unet?: boolean;
}

/** fp16 overflow (values past 65504) turns into Inf/NaN; the fp32 graph of the same pack does not. */
export const FP16_HINT = 'The U-Net in use is the fp16 graph, which can overflow: add fp16=0 to the page URL to use the fp32 U-Net';

export interface RunnerDeps {
  post(msg: FromWorker, transfer?: Transferable[]): void;
  /** Lets queued messages (cancel, setScale) in between steps: a macrotask, not a microtask. */
  yieldToEvents(): Promise<void>;
  now(): number;
}

interface ActiveRun {
  runId: number;
  cancelled: boolean;
  scale: number;
  cfgScale: number;
  previewOf: PreviewOf;
  finished: Promise<void>;
}

export interface Runner {
  generate(runId: number, params: GenerateParams, model: RunModel): Promise<void>;
  /** Changes the classifier scale and/or the classifier-free scale (undefined: unchanged) of a run. */
  setScale(runId: number, classifierScale?: number, cfgScale?: number): void;
  setPreview(runId: number, previewOf: PreviewOf): void;
  cancel(runId: number): void;
  /** Cancels whatever runs or waits to run, and resolves once nothing touches the sessions. */
  stopAll(): Promise<void>;
}


export function createRunner(deps: RunnerDeps): Runner {
  let active: ActiveRun | null = null;
  let latest = -1; // runId of the newest generate request; older waiting requests give up

  async function execute(run: ActiveRun, params: GenerateParams, model: RunModel): Promise<void> {
    const { runId } = run;
    let stepsDone = 0;
    let upsampling = false; // the base U-Net's steps are done: a failure now is the upsampler's
    try {
      const plan = planRun(model.manifest, params);
      const numSteps = plan.process.numTimesteps;
      // The cascade (single images only): the upsampler runs on the base model's finished sample.
      const upSession = model.upsampler ?? null;
      const cascade = upSession ? plan.cascade : null;
      const t0 = deps.now();
      deps.post({ kind: 'started', runId, numSteps, ...(cascade ? { upsampleSteps: cascade.process.numTimesteps } : {}) });
      const guided = plan.classifierLabels !== null && model.classifierGrad !== null;
      const base = sampleLoop({
        process: plan.process,
        shape: plan.shape,
        denoise: model.denoise,
        unetLabels: plan.unetLabels,
        classifierGrad: guided ? (model.classifierGrad ?? undefined) : undefined,
        classifierLabels: guided ? (plan.classifierLabels ?? undefined) : undefined,
        nullLabels: plan.nullLabels ?? undefined,
        // A grid's scales are fixed per cell; a single run reads the live ones (checked where they came in).
        getScales: () => plan.cellScales ?? { classifier: plan.uses.classifier ? run.scale : 0, cfg: plan.uses.cfg ? run.cfgScale : 0 },
        guidanceInterval: plan.guidanceInterval ?? undefined,
        useDdim: plan.useDdim,
        rng: createGaussianRng(plan.seed),
        // Grid cells: one stream per cell, so cells with one seed share their noise (DDPM too).
        rngPerSample: plan.grid ? plan.seeds.map((s) => createGaussianRng(s)) : undefined,
        gradientAt: plan.gradientAt,
        shouldStop: () => run.cancelled,
      });
      // Second stage: the upsampler, unguided, on the 8-bit base sample; its own noise stream (as the CLI's batch 0).
      const upsample = cascade && upSession ? {
        stage: cascade, denoiseWith: (lowRes: Float32Array) => upSession.denoiseWith(lowRes), labels: plan.labels,
        seed: plan.seed, batch: 0, shouldStop: () => run.cancelled,
      } : null;
      const upShape: Shape4 = [1, 3, cascade?.up.imageSize ?? 0, cascade?.up.imageSize ?? 0];
      let finalX: Float32Array | null = null;
      // Trade-off view: the classifier scores every cell's predicted x₀ at t = 0 after each step (fidelity per scale).
      const tradeoff = plan.grid?.view === 'tradeoff';
      const readout = model.classifierReadout ?? null;
      const k = plan.shape[0];
      const zeros = new Float32Array(k);
      let upDone = 0;
      for await (const { stage, rec } of baseThenUpsample(base, upsample)) {
        let out;
        if (stage === 'upsample') {
          upDone = rec.step + 1;
          out = upsampleFrame(runId, rec, upShape, run.previewOf);
        } else {
          stepsDone = rec.step + 1;
          // From here on a failure is the upsampler's.
          upsampling = cascade !== null && stepsDone === numSteps;
          const groupLogp = tradeoff && readout && plan.classifierLabels && plan.grid
            ? groupMeanLogp((await readout(rec.predXstart, zeros, plan.classifierLabels, plan.shape)).logits, plan.classifierLabels, plan.grid.groups)
            : null;
          out = plan.grid ? gridFrame(runId, rec, plan, run.previewOf, groupLogp) : singleFrame(runId, rec, plan, run.previewOf);
          if (plan.grid && stepsDone === numSteps) finalX = rec.x.slice();
        }
        deps.post(out.msg, out.transfer);
        await deps.yieldToEvents();
      }
      if (run.cancelled && stepsDone < numSteps) {
        deps.post({ kind: 'cancelled', runId, step: stepsDone });
        return;
      }
      if (cascade) {
        if (run.cancelled && upDone < cascade.process.numTimesteps) {
          deps.post({ kind: 'cancelled', runId, step: stepsDone, stage: 'upsample', upsampleStep: upDone });
          return;
        }
      } else if (finalX) {
        // The classifier's view of the final samples (t = 0), one extra call: a diversity read-out.
        // Logits and features do not depend on y (the graph needs one all the same).
        const r = readout ? await readout(finalX, zeros, plan.classifierLabels ?? new Int32Array(k), plan.shape) : null;
        const pr = !tradeoff || !plan.grid ? null
          : !r ? { precision: null, recall: null, prNote: 'this pack has no classifier, so only diversity is shown' }
            : groupPrecisionRecall(r.features, k, plan.grid.groups, model.reference ?? null, plan.classifierLabels?.[0] ?? -1);
        const out = gridReadout(runId, finalX, plan, r?.logits ?? null, pr);
        deps.post(out.msg, out.transfer);
      }
      deps.post({ kind: 'done', runId, ms: deps.now() - t0 });
    } catch (e) {
      let message = e instanceof Error ? e.message : String(e);
      if (model.fp16Unet && !upsampling && e instanceof NonFiniteError && e.source === 'unetOutput') message += `. ${FP16_HINT}`;
      deps.post({ kind: 'error', runId, message });
    }
  }

  return {
    async generate(runId, params, model) {
      latest = runId;
      // The loop condition is re-read right after each resume, so no other request slips in between.
      while (active) {
        active.cancelled = true;
        await active.finished;
      }
      if (latest !== runId) {
        deps.post({ kind: 'cancelled', runId, step: 0 }); // superseded before it started
        return;
      }
      let finish = () => {};
      const run: ActiveRun = {
        runId, cancelled: false, scale: params.classifierScale, cfgScale: params.cfgScale ?? 0, // planRun refuses bad ones
        previewOf: params.previewOf,
        finished: new Promise<void>((resolve) => (finish = resolve)),
      };
      active = run;
      try {
        await execute(run, params, model);
      } finally {
        active = null;
        finish();
      }
    },
    setScale(runId, classifierScale, cfgScale) {
      if (active?.runId !== runId) return;
      // The same rule as at Generate: a bad live value is dropped and the run keeps its scale.
      if (classifierScale !== undefined && !scaleProblem('classifierScale', classifierScale)) active.scale = classifierScale;
      if (cfgScale !== undefined && !scaleProblem('cfgScale', cfgScale)) active.cfgScale = cfgScale;
    },
    setPreview(runId, previewOf) {
      if (active?.runId === runId) active.previewOf = previewOf;
    },
    cancel(runId) {
      if (active?.runId === runId) active.cancelled = true;
      if (latest === runId) latest = -1; // a request still waiting to start gives up too
    },
    async stopAll() {
      latest = -1;
      while (active) {
        active.cancelled = true;
        await active.finished;
      }
    },
  };
}
