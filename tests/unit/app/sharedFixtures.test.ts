// The fixtures adm/ is held to as well (tests/python/test_shared_fixtures.py): the respacing strings
// the manifest check and the page's step default must treat as src/diffusion/respace.ts does, and
// the pack format's names (guidance modes, graph I/O) as one list.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GRAPH_IO, GUIDANCE_MODES, type GraphIoSpec } from '../../../src/shared/manifest';
import { parseManifest } from '../../../src/shared/manifestCheck';
import { stepsOfRespacing } from '../../../src/ui/packDefaults';
import { respacingFixture } from '../diffusion/helpers';
import { fakeManifest } from './fakes';

const respacing = respacingFixture();
const withRespacing = (diffusionSteps: number, timestepRespacing: string) => {
  const m = fakeManifest();
  return { ...m, diffusion: { ...m.diffusion, diffusionSteps }, sampling: { ...m.sampling, timestepRespacing } };
};

describe('respacing callers follow the one parser', () => {
  // The manifest needs a non-empty string (and steps 1..10000) before the parser is asked.
  const accepted = respacing.accepted.filter((c) => c.respacing !== '');
  const rejected = respacing.rejected.filter((c) => c.diffusionSteps >= 1);

  it.each(accepted)('manifest and step default accept "$respacing" over $diffusionSteps steps', (c) => {
    expect(parseManifest(withRespacing(c.diffusionSteps, c.respacing)).sampling.timestepRespacing).toBe(c.respacing);
    expect(stepsOfRespacing(c.respacing, c.diffusionSteps)).toBe(c.steps.length);
  });

  it.each(rejected)('manifest and step default refuse "$respacing" over $diffusionSteps steps', (c) => {
    expect(() => parseManifest(withRespacing(c.diffusionSteps, c.respacing))).toThrow(`manifest.sampling.timestepRespacing: ${c.message}`);
    expect(stepsOfRespacing(c.respacing, c.diffusionSteps)).toBeNull();
  });
});

interface GraphNames {
  inputs: { classCond: string[]; unconditional: string[] };
  outputs: string[];
  optionalOutputs: string[];
}
const names = JSON.parse(readFileSync(fileURLToPath(new URL('../../fixtures/pack-format-names.json', import.meta.url)), 'utf8')) as {
  guidanceModes: string[];
  graphs: Record<'unet' | 'classifierGrad' | 'upsampler', GraphNames>;
};

describe('pack format names', () => {
  it('guidance modes', () => expect([...GUIDANCE_MODES]).toEqual(names.guidanceModes));

  it.each(Object.entries(names.graphs))('%s inputs and outputs', (kind, g) => {
    const io: GraphIoSpec = GRAPH_IO[kind as keyof typeof names.graphs];
    expect(io.inputs(true)).toEqual(g.inputs.classCond);
    expect(io.inputs(false)).toEqual(g.inputs.unconditional);
    expect(io.outputs).toEqual(g.outputs);
    const optional = kind === 'classifierGrad' ? [GRAPH_IO.names.features] : [];
    expect(optional).toEqual(g.optionalOutputs);
  });

  it('GRAPH_IO.names spells exactly the names the graphs use', () => {
    const all = Object.values(names.graphs).flatMap((g) => [...g.inputs.classCond, ...g.inputs.unconditional, ...g.outputs, ...g.optionalOutputs]);
    expect(new Set(Object.values(GRAPH_IO.names))).toEqual(new Set(all));
  });
});
