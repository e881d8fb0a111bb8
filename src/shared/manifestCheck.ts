// parseManifest: the pack manifest checked against docs/pack-manifest.schema.json (field by field,
// by the validator generated from it), then against the rules that relate two fields, which a schema
// cannot state. adm/manifest_check.py applies the same rules in the same order; tests/fixtures/
// manifests.json holds both to the same messages. Pure: no DOM, no onnxruntime.
import { spaceTimesteps } from '../diffusion/respace';
import { canUseCfg, GRAPH_IO, MANIFEST_LIMITS, modeUses, type GraphFile, type PackManifest } from './manifest';
import { ManifestError, need, schemaProblem } from './manifestErrors';

export { ManifestError };

function respacingOk(steps: number, respacing: string, path: string): void {
  try {
    spaceTimesteps(steps, respacing);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ManifestError(`manifest.${path}: ${why.length > 200 ? `${why.slice(0, 200)}…` : why}`);
  }
}

/** A graph's external-data files are named once each and never as the graph itself. */
function externalDataNamesOk(g: GraphFile, key: string): void {
  const seen = new Set([g.file]);
  (g.externalData ?? []).forEach(({ file }, i) => {
    need(!seen.has(file), `${key}.externalData[${i}].file`, 'a file named once in this graph entry', file);
    seen.add(file);
  });
}

/** The cascade's second stage against the base model (docs/pack-format.md, "Upsampler cascade"). */
function upsamplerOk(m: PackManifest): void {
  const u = m.upsampler;
  if (!u) return;
  need(u.lowResSize === m.imageSize, 'upsampler.lowResSize', `the base model's imageSize (${m.imageSize})`, u.lowResSize);
  need(u.imageSize > m.imageSize, 'upsampler.imageSize', `an integer from ${m.imageSize + 1} to ${MANIFEST_LIMITS.maxImageSize}`, u.imageSize);
  respacingOk(u.diffusion.diffusionSteps, u.sampling.timestepRespacing, 'upsampler.sampling.timestepRespacing');
}

/** Reference features: one block per label, within the size limit, beside a classifier that gives features. */
function referenceFeaturesOk(m: PackManifest): void {
  const r = m.referenceFeatures;
  if (!r) return;
  const labels = m.labels.length;
  const L = MANIFEST_LIMITS;
  const [, perLabel, dim] = r.shape;
  need(r.shape[0] === labels, 'referenceFeatures.shape', `[${labels} (the labels), images per label (at least ${L.minReferencePerLabel}), feature size]`, r.shape);
  const size = 4 * labels * perLabel * dim;
  need(size <= L.maxReferenceFeatureBytes, 'referenceFeatures.shape', `at most ${L.maxReferenceFeatureBytes} bytes of float32`, r.shape);
  need(r.bytes === size, 'referenceFeatures.bytes', `4 x the shape's product (${size})`, r.bytes);
  const T = m.diffusion.diffusionSteps;
  need(r.timestep < T, 'referenceFeatures.timestep', `a timestep 0..${T - 1}`, r.timestep);
  const features = GRAPH_IO.names.features;
  need(m.classifierGrad?.outputs.includes(features) === true, 'referenceFeatures', `given only with a classifierGrad graph whose outputs include "${features}"`, r);
}

/** Validates parsed JSON as a PackManifest; throws ManifestError naming the first bad field. */
export function parseManifest(json: unknown): PackManifest {
  const problem = schemaProblem(json, MANIFEST_LIMITS.maxJsonValues);
  if (problem !== null) throw new ManifestError(problem);
  const m = json as PackManifest;
  const n = m.labels.length;
  const ul = m.unconditionalLabel;
  need(ul === null || ul >= n, 'unconditionalLabel', `null or a label from ${n} to ${MANIFEST_LIMITS.imagenetClasses} (outside the class labels 0..${n - 1})`, ul);
  respacingOk(m.diffusion.diffusionSteps, m.sampling.timestepRespacing, 'sampling.timestepRespacing');
  const mode = m.sampling.guidanceMode;
  need(mode === undefined || !modeUses(mode).cfg || canUseCfg(m), 'sampling.guidanceMode', '"classifier" for a pack without unconditionalLabel', mode);
  for (const key of ['unet', 'unetFp16', 'classifierGrad', 'upsampler'] as const) {
    const g = m[key];
    if (g) externalDataNamesOk(g, key);
  }
  upsamplerOk(m);
  referenceFeaturesOk(m);
  return m;
}
