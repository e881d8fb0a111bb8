// docs/pack-manifest.schema.json is the manifest's contract: the checked-in validator is compiled
// from it, and the constants code uses without loading it (MANIFEST_LIMITS, PACK_FILE_NAME, GRAPH_IO,
// GUIDANCE_MODES) are the schema's values.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, SCHEMA_PATH, compileManifestSchema } from '../../../tools/schema/compileManifestSchema';
import { GRAPH_IO, GUIDANCE_MODES, MANIFEST_LIMITS, PACK_FILE_NAME } from '../../../src/shared/manifest';

type Node = Record<string, unknown> & { properties?: Record<string, Node>; definitions?: Record<string, Node>; allOf?: Node[]; items?: Node[] };
const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Node;
const props = schema.properties!;
const defs = schema.definitions!;

/** The names a graph schema requires of a list ({"contains": {"const": name}}, directly or under allOf). */
function contained(node: Node): string[] {
  const own = node.contains ? [(node.contains as Node).const as string] : [];
  return [...own, ...(node.allOf ?? []).flatMap(contained)];
}

describe('the manifest schema', () => {
  it('is what src/shared/manifestSchema.gen.js was compiled from (run npm run schema after changing it)', () => {
    expect(compileManifestSchema(readFileSync(SCHEMA_PATH, 'utf8'))).toBe(readFileSync(GENERATED_PATH, 'utf8'));
  });

  it('holds the limits and the file-name rule that MANIFEST_LIMITS and PACK_FILE_NAME restate', () => {
    expect(props.imageSize.maximum).toBe(MANIFEST_LIMITS.maxImageSize);
    expect(props.labels.maxItems).toBe(MANIFEST_LIMITS.imagenetClasses);
    expect(props.unconditionalLabel.maximum).toBe(MANIFEST_LIMITS.imagenetClasses);
    expect(defs.diffusion.properties!.diffusionSteps.maximum).toBe(MANIFEST_LIMITS.maxDiffusionSteps);
    expect(defs.fileName.maxLength).toBe(MANIFEST_LIMITS.maxFileNameLength);
    expect(defs.graph.properties!.externalData.maxItems).toBe(MANIFEST_LIMITS.maxExternalDataFiles);
    expect(props.referenceFeatures.properties!.shape.items![1].minimum).toBe(MANIFEST_LIMITS.minReferencePerLabel);
    const fileName = new RegExp(defs.fileName.pattern as string, 'u');
    for (const name of ['unet.onnx', 'a', 'U-Net_2.fp16.onnx', '.x', '-x', 'a/b', 'a b', 'ü.onnx', 'a..b', 'a.b.']) {
      expect(fileName.test(name), name).toBe(PACK_FILE_NAME.test(name) && !name.includes('..'));
    }
  });

  it('requires the graph I/O names of GRAPH_IO, y only of class-conditional graphs', () => {
    const required = { unet: defs.unetGraph.allOf![1], classifierGrad: props.classifierGrad.allOf![1], upsampler: defs.upsampler.allOf![1] };
    for (const [graph, node] of Object.entries(required)) {
      const io = GRAPH_IO[graph as keyof typeof required];
      const classInput = graph === 'classifierGrad' ? [] : contained(defs.classInput.properties!.inputs);
      expect(new Set([...contained(node.properties!.inputs), ...classInput]), graph).toEqual(new Set(io.inputs(true)));
      expect(new Set(contained(node.properties!.inputs)), graph).toEqual(new Set(io.inputs(graph === 'classifierGrad')));
      expect(new Set(contained(node.properties!.outputs)), graph).toEqual(new Set(io.outputs));
    }
    expect(props.sampling.properties!.guidanceMode.enum).toEqual(GUIDANCE_MODES);
  });
});
