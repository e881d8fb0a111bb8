// parseManifest refuses a graph entry that leaves out any name its graph must take or give (GRAPH_IO,
// src/shared/manifest.ts; its names are held to tests/fixtures/pack-format-names.json by sharedFixtures.test.ts).
import { describe, expect, it } from 'vitest';
import { GRAPH_IO, graphIoProblem } from '../../../src/shared/manifest';
import { ManifestError, parseManifest } from '../../../src/shared/manifestCheck';
import { fakeManifest, fakeUpsampler } from './fakes';

type Json = Record<string, unknown>;

function manifest(): Json {
  const m = JSON.parse(JSON.stringify(fakeManifest())) as Json;
  m.upsampler = fakeUpsampler();
  m.unetFp16 = { ...(m.unet as Json), file: 'unet.fp16.onnx', dtype: 'float16' };
  return m;
}

const cases: [string, 'inputs' | 'outputs', string][] = [
  ...(['x', 'timesteps', 'y'].map((n) => ['unet', 'inputs', n]) as [string, 'inputs', string][]),
  ['unet', 'outputs', 'model_output'],
  ['unetFp16', 'inputs', 'y'],
  ['unetFp16', 'outputs', 'model_output'],
  ...(['x', 'timesteps', 'y'].map((n) => ['classifierGrad', 'inputs', n]) as [string, 'inputs', string][]),
  ...(['grad', 'logp', 'logits'].map((n) => ['classifierGrad', 'outputs', n]) as [string, 'outputs', string][]),
  ...(['x', 'timesteps', 'low_res', 'y'].map((n) => ['upsampler', 'inputs', n]) as [string, 'inputs', string][]),
  ['upsampler', 'outputs', 'model_output'],
];

describe('parseManifest checks every graph against GRAPH_IO', () => {
  it('accepts the full manifest', () => {
    expect(() => parseManifest(manifest())).not.toThrow();
  });

  it.each(cases)('refuses %s without %s "%s"', (graph, side, name) => {
    const m = manifest();
    const g = m[graph] as Json;
    g[side] = (g[side] as string[]).filter((s) => s !== name);
    expect(() => parseManifest(m)).toThrow(ManifestError);
    expect(() => parseManifest(m)).toThrow(`manifest.${graph}.${side} must be a list containing "${name}"`);
  });

  it('asks y of a class-conditional U-Net only', () => {
    const m = manifest();
    m.classCond = false;
    m.unconditionalLabel = null;
    for (const k of ['unet', 'unetFp16']) (m[k] as Json).inputs = ['x', 'timesteps'];
    const u = m.upsampler as Json;
    u.classCond = false;
    u.inputs = ['x', 'timesteps', 'low_res'];
    expect(() => parseManifest(m)).not.toThrow();
  });
});

describe('graphIoProblem (the loaded graph itself, not the manifest\'s claim)', () => {
  it('passes a graph with the names its kind needs, extras allowed', () => {
    expect(graphIoProblem({ inputNames: ['x', 'timesteps', 'y'], outputNames: ['model_output', 'extra'] }, GRAPH_IO.unet, true, 'unet.onnx')).toBeNull();
    expect(graphIoProblem({ inputNames: ['x', 'timesteps'], outputNames: ['model_output'] }, GRAPH_IO.unet, false, 'unet.onnx')).toBeNull();
  });

  it('names each missing input and output', () => {
    expect(graphIoProblem({ inputNames: ['x', 'timesteps'], outputNames: ['model_output'] }, GRAPH_IO.upsampler, true, 'up.onnx')).toBe(
      'up.onnx: the graph has no input "low_res", input "y" (its inputs: x, timesteps; outputs: model_output)',
    );
    expect(graphIoProblem({ inputNames: ['x', 'timesteps', 'y'], outputNames: ['grad', 'logp'] }, GRAPH_IO.classifierGrad, true, 'g.onnx')).toBe(
      'g.onnx: the graph has no output "logits" (its inputs: x, timesteps, y; outputs: grad, logp)',
    );
  });
});
