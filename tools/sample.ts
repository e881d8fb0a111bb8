// npm run --silent sample -- --pack DIR --class IMAGENET_INDEX [--scale S] [--respacing 250|ddim25|...]
//   [--ddim|--no-ddim] [--eta E] [--unconditional] [--seed N] [--batch B] [--num-samples M]
//   [--out FILE.png] [--save-samples DIR] [--fp16] [--threads T]
//   [--mode classifier|cfg|both] [--cfg-scale W] [--guidance-interval LO,HI] [--progress-json]
//   [--no-upsample] [--upsample-respacing R] [--batch-range FROM,TO]
//
// --batch-range runs only batches FROM..TO-1 of the --num-samples run (the samples of those batches, with their
// run-wide indices, classes and noise streams), so separate processes can each draw a part of one run (adm/cli/eval.py
// --shard, adm/eval_shards.py): the parts together are exactly the whole run's samples.
// A pack with an upsampler (docs/pack-format.md, "Upsampler cascade") is sampled in two stages: the base
// model as below, then the upsampler, unguided, with the base samples (quantized to 8 bits as the reference's
// super_res_sample.py reads them) as low_res and its own process and sampling defaults (--upsample-respacing
// overrides the respacing); the PNGs hold the upsampled images. --no-upsample stops after the base model.
// Upsampler batch b draws its noise from createGaussianRng(seed, UPSAMPLE_STREAM + b).
// Guidance: --scale is the classifier scale s, --cfg-scale the classifier-free scale w (the U-Net on the
// class and on the pack's unconditionalLabel in one batch). --mode defaults to: cfg when only
// --cfg-scale is given, both when --scale and --cfg-scale are, classifier when only --scale or
// --unconditional is, else the pack's sampling.guidanceMode (classifier when it has none).
// --guidance-interval guides (both kinds) only for original timesteps LO <= t <= HI.
//
// Runs a pack with onnxruntime-node through the same sampling loop as the browser (src/diffusion),
// writes a PNG grid and/or one PNG per sample, and prints a JSON summary on stdout (progress on
// stderr). Batch b draws its noise from createGaussianRng(seed, b), so a batch is reproducible alone.
// --progress-json also prints {"progress":{"step":N,"total":T}} on stdout after every step, before the summary
// (for programs such as adm/eval_sampler.py that follow the run).
// Every input is checked before any work starts; outputs are written only at the very end.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UPSAMPLE_STREAM, createGaussianRng, createProcessForPack, gridRgba, sampleLoop, toRgba, type Shape4 } from '../src/diffusion';
import { baseThenUpsample, packLabel, planCascade, resolveCliGuidance, rowLabels } from '../src/pipeline';
import { GRAPH_IO, classifierLabelProblem, graphIoProblem } from '../src/shared/manifest';
import { LIMITS } from '../src/shared/protocol';
import { CliError, asUserError, finiteNumber, integer, numberInLimits, parseFlags, runMain, str } from './lib/cli';
import { parseBatchRange, parseInterval, resolveClasses } from './lib/sampleArgs';
import { openGuidanceSession, openSession, ortClassifierGrad, ortDenoiser, type RunTimer } from './lib/ort';
import { loadPack, takeGraph } from './lib/pack';
import { SAMPLE_LIMITS, checkOutDir, checkOutFile, checkSampleMemory } from './lib/preflight';
import { encodePng, writeFileAtomic } from './lib/png';
import { Progress } from './lib/progress';

const FLAGS = {
  pack: 'string', class: 'string', scale: 'string', respacing: 'string', ddim: 'boolean', 'no-ddim': 'boolean',
  eta: 'string', unconditional: 'boolean', seed: 'string', batch: 'string', 'num-samples': 'string', out: 'string',
  'save-samples': 'string', fp16: 'boolean', threads: 'string', help: 'boolean',
  mode: 'string', 'cfg-scale': 'string', 'guidance-interval': 'string', 'progress-json': 'boolean',
  'no-upsample': 'boolean', 'upsample-respacing': 'string', 'batch-range': 'string',
} as const;


const USAGE = `usage: sample --pack DIR --class IMAGENET_INDEX[,INDEX...|random] [--scale S] [--respacing 250|ddim25|...]
  [--ddim|--no-ddim] [--eta E] [--unconditional] [--seed N] [--batch B] [--num-samples M]
  [--out FILE.png] [--save-samples DIR] [--fp16] [--threads T]
  [--mode classifier|cfg|both] [--cfg-scale W] [--guidance-interval LO,HI] [--progress-json]
  [--no-upsample] [--upsample-respacing R] [--batch-range FROM,TO]`;

runMain('sample', async () => {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const packDir = str(flags, 'pack');
  if (!packDir) throw new CliError(`--pack is required\n${USAGE}`);
  if (flags.ddim && flags['no-ddim']) throw new CliError('--ddim and --no-ddim contradict each other');
  const out = str(flags, 'out');
  const saveDir = str(flags, 'save-samples');
  if (!out && !saveDir) throw new CliError('nothing to write: give --out FILE.png and/or --save-samples DIR');
  // Outputs are written only at the end: make sure now that they can be (a probe file is written
  // and removed), not after all the sampling.
  if (out !== undefined) {
    if (!out.toLowerCase().endsWith('.png')) throw new CliError(`--out must name a .png file (got "${out}")`);
    checkOutFile(out);
  }
  if (saveDir !== undefined) checkOutDir(saveDir);
  const seed = integer(str(flags, 'seed') ?? '0', 'seed', 0);
  const batch = integer(str(flags, 'batch') ?? '4', 'batch', 1, SAMPLE_LIMITS.maxBatch);
  const numSamples = integer(str(flags, 'num-samples') ?? String(batch), 'num-samples', 1, SAMPLE_LIMITS.maxNumSamples);
  const threads = integer(str(flags, 'threads') ?? '2', 'threads', 1);
  const numBatches = Math.ceil(numSamples / batch);
  const rangeArg = str(flags, 'batch-range');
  const [fromBatch, toBatch] = rangeArg !== undefined ? parseBatchRange(rangeArg, numBatches) : [0, numBatches];
  const runBatches = toBatch - fromBatch;
  const first = fromBatch * batch; // run-wide index of the first sample drawn here
  const count = Math.min(toBatch * batch, numSamples) - first;
  const eta = finiteNumber(str(flags, 'eta') ?? '0', 'eta');
  if (eta < 0) throw new CliError(`--eta must be >= 0 (got ${eta})`);
  const scaleArg = str(flags, 'scale');
  // The app's limits (a negative or huge scale only makes noise or NaN).
  const scaleGiven = scaleArg !== undefined ? numberInLimits(scaleArg, 'scale', LIMITS.classifierScale) : undefined;
  const modeArg = str(flags, 'mode');
  const cfgArg = str(flags, 'cfg-scale');
  const cfgGiven = cfgArg !== undefined ? numberInLimits(cfgArg, 'cfg-scale', LIMITS.cfgScale) : undefined;
  const intervalArg = str(flags, 'guidance-interval');
  const guidanceInterval = intervalArg !== undefined ? parseInterval(intervalArg) : null;

  const pack = await loadPack(packDir, { fp16: Boolean(flags.fp16), upsampler: !flags['no-upsample'] });
  const m = pack.manifest;
  const up = pack.hasUpsampler && m.upsampler ? m.upsampler : null;
  if (!up && str(flags, 'upsample-respacing') !== undefined) {
    throw new CliError(flags['no-upsample'] ? '--upsample-respacing contradicts --no-upsample' : `pack ${m.name} has no upsampler (--upsample-respacing)`);
  }
  checkSampleMemory(batch, numSamples, up ? up.imageSize : m.imageSize);
  const hasClassifier = pack.hasClassifier;
  // Mode, its checks and the scales it applies: the planner's rules (src/pipeline), as the page's.
  const { mode, uses, scale, cfgScale } = asUserError(() => resolveCliGuidance(m, {
    mode: modeArg, scale: scaleGiven, cfgScale: cfgGiven, unconditional: Boolean(flags.unconditional), hasClassifier,
  }));
  const respacing = str(flags, 'respacing') ?? m.sampling.timestepRespacing;
  const useDdim = flags.ddim ? true : flags['no-ddim'] ? false : m.sampling.useDdim;
  const proc = asUserError(() => createProcessForPack(m, respacing));

  const unconditional = Boolean(flags.unconditional) || !m.classCond;
  const classSpec = str(flags, 'class');
  const needClass = !unconditional || (scale !== 0 && hasClassifier) || uses.cfg;
  if (classSpec === undefined && needClass) throw new CliError(`--class is required for this pack and scale\n${USAGE}`);
  const classes = classSpec !== undefined ? resolveClasses(classSpec, m, numSamples, seed) : null;
  const labels = classes ? classes.map((c) => packLabel(m, c)) : null;
  if (up && up.classCond && !labels) {
    throw new CliError(`the upsampler of pack ${m.name} is class-conditional: give --class (or --no-upsample)\n${USAGE}`);
  }
  const cascade = asUserError(() => planCascade(m, up !== null, str(flags, 'upsample-respacing')));
  const upProc = cascade ? cascade.process : null;

  const size = m.imageSize;
  const unetSession = await openSession(takeGraph(pack, 'unet'), threads);
  const clsSession = pack.hasClassifier ? await openGuidanceSession(takeGraph(pack, 'classifierGrad'), threads) : null;
  const ioProblem = graphIoProblem(unetSession, GRAPH_IO.unet, m.classCond, pack.unet.file)
    ?? (clsSession && m.classifierGrad ? graphIoProblem(clsSession, GRAPH_IO.classifierGrad, true, m.classifierGrad.file) : null);
  if (ioProblem) throw new CliError(`invalid pack ${packDir}: ${ioProblem}`);
  const labelProblem = clsSession && m.classifierGrad ? classifierLabelProblem(clsSession.outputMetadata, m, m.classifierGrad.file) : null;
  if (labelProblem) throw new CliError(`invalid pack ${packDir}: ${labelProblem}`);
  const unetTimer: RunTimer = { ms: 0, calls: 0 };
  const clsTimer: RunTimer = { ms: 0, calls: 0 };
  const denoise = ortDenoiser(unetSession, m.learnSigma ? 6 : 3, unetTimer);
  const classifierGrad = clsSession ? ortClassifierGrad(clsSession, clsTimer) : undefined;
  const finalGrad = clsSession ? ortClassifierGrad(clsSession) : undefined;
  const upSession = up ? await openSession(takeGraph(pack, 'upsampler'), threads) : null;
  const upProblem = upSession && up ? graphIoProblem(upSession, GRAPH_IO.upsampler, up.classCond, up.file) : null;
  if (upProblem) throw new CliError(`invalid pack ${packDir}: ${upProblem}`);
  const upTimer: RunTimer = { ms: 0, calls: 0 };

  const stepsPerBatch = proc.numTimesteps + (upProc ? upProc.numTimesteps : 0);
  const progress = new Progress(runBatches * stepsPerBatch, 'sample');
  const images: Float32Array[] = [];
  const logps: (number | null)[] = [];
  const t0 = performance.now();
  let loopMs = 0; // the sampling loops alone (not the final log p), for ms per image
  let stepsDone = 0;
  for (let b = fromBatch; b < toBatch; b++) {
    const n = Math.min(batch, numSamples - b * batch);
    const shape: Shape4 = [n, 3, size, size];
    const bl = labels ? Int32Array.from(labels.slice(b * batch, b * batch + n)) : null;
    // The same label rule as the page's (src/pipeline): --unconditional feeds the U-Net the null label.
    const rows = rowLabels(m, bl, new Array(n).fill(mode), { conditionUnet: !unconditional });
    let baseX: Float32Array | null = null;
    let x: Float32Array | null = null;
    const tb = performance.now();
    const base = sampleLoop({
      process: proc, shape, denoise, unetLabels: rows.unetLabels,
      classifierGrad: rows.classifierLabels ? classifierGrad : undefined,
      classifierLabels: rows.classifierLabels ?? undefined,
      nullLabels: rows.nullLabels ?? undefined,
      getScales: () => ({ classifier: scale, cfg: cfgScale }),
      guidanceInterval: guidanceInterval ?? undefined,
      useDdim, eta,
      rng: createGaussianRng(seed, b),
    });
    // Second stage (when the pack has an upsampler): unguided, on the 8-bit base samples.
    const upsample = cascade && upSession ? {
      stage: cascade, labels: bl, seed, batch: b, eta,
      denoiseWith: (lowRes: Float32Array) => ortDenoiser(upSession, cascade.up.learnSigma ? 6 : 3, upTimer, { data: lowRes, size: cascade.up.lowResSize }),
    } : null;
    for await (const { stage, rec } of baseThenUpsample(base, upsample)) {
      x = rec.x;
      if (stage === 'base' && rec.step === rec.numSteps - 1) baseX = rec.x.slice();
      const batchText = numBatches > 1 ? `batch ${b + 1}/${numBatches}` : '';
      progress.update(++stepsDone, stage === 'upsample' ? `upsampling${batchText && ` ${batchText}`}` : batchText);
      if (flags['progress-json']) {
        process.stdout.write(`${JSON.stringify({ progress: { step: stepsDone, total: runBatches * stepsPerBatch } })}\n`);
      }
    }
    loopMs += performance.now() - tb;
    const final = baseX as Float32Array;
    if (finalGrad && bl) {
      // log p(y | x_0): the classifier at t = 0 on the finished (base) image.
      const r = await finalGrad(final, new Float32Array(n), bl, shape);
      logps.push(...Array.from(r.logp));
    } else {
      logps.push(...new Array<null>(n).fill(null));
    }
    images.push(upsample ? (x as Float32Array).slice() : final);
  }
  const totalMs = performance.now() - t0;
  const outSize = up ? up.imageSize : size;

  // The samples drawn here in one [count, 3, H, W] tensor for the grid and the per-sample files.
  const all = new Float32Array(count * 3 * outSize * outSize);
  images.forEach((img, b) => all.set(img, b * batch * 3 * outSize * outSize));
  const allShape: Shape4 = [count, 3, outSize, outSize];
  const samples = Array.from({ length: count }, (_, j) => ({
    index: first + j,
    imagenetClass: classes ? classes[first + j] : null,
    label: labels ? labels[first + j] : null,
    logp: logps[j],
    file: saveDir ? `sample_${String(first + j).padStart(5, '0')}.png` : undefined,
  }));
  const settings = {
    classes: classSpec ?? null, mode, scale, cfgScale, guidanceInterval, respacing: proc.timestepRespacing, steps: proc.numTimesteps, ddim: useDdim,
    eta: useDdim ? eta : null, unconditional, seed, batch, numSamples, batchRange: [fromBatch, toBatch], unet: pack.unet.file, threads,
    rng: 'createGaussianRng(seed, batchIndex)',
    upsampler: up && upProc ? {
      file: up.file, imageSize: up.imageSize, respacing: upProc.timestepRespacing, steps: upProc.numTimesteps, ddim: up.sampling.useDdim,
      rng: `createGaussianRng(seed, ${UPSAMPLE_STREAM} + batchIndex)`,
    } : null,
  };
  if (saveDir) {
    mkdirSync(saveDir, { recursive: true });
    samples.forEach((s, j) => {
      writeFileAtomic(join(saveDir, s.file as string), encodePng({ width: outSize, height: outSize, data: toRgba(all, allShape, j) }));
    });
    writeFileAtomic(join(saveDir, 'samples.json'), `${JSON.stringify({ pack: m.name, settings, samples }, null, 1)}\n`);
  }
  if (out) writeFileAtomic(out, encodePng(gridRgba(all, allShape)));

  const totalSteps = runBatches * proc.numTimesteps; // base-model steps (the upsampler's are timed apart)
  const summary = {
    pack: m.name,
    packDir: pack.dir,
    settings,
    samples: samples.map(({ index, imagenetClass, label, logp }) => ({ index, imagenetClass, label, logp })),
    msPerStep: totalMs / (runBatches * stepsPerBatch),
    msUnetPerStep: unetTimer.ms / totalSteps,
    msClassifierPerStep: clsTimer.calls ? clsTimer.ms / totalSteps : 0,
    msUpsamplerPerStep: upProc ? upTimer.ms / (runBatches * upProc.numTimesteps) : null,
    imageSize: outSize,
    /** Sampling time per image (the loops only): the equal-cost measure across guidance modes. */
    msPerImage: loopMs / count,
    totalMs,
    out: out ? resolve(out) : null,
    saveSamples: saveDir ? resolve(saveDir) : null,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
});
