// The manifest validator's hardening rules (issue 13): file names, labels, respacing, bounds.
import { describe, expect, it } from 'vitest';
import { classifierLabelProblem } from '../../../src/shared/manifest';
import { ManifestError, parseManifest } from '../../../src/shared/manifestCheck';
import { fakeManifest } from './fakes';

type Json = Record<string, unknown>;
const base = (): Json => JSON.parse(JSON.stringify(fakeManifest())) as Json;
const withUnetFile = (file: string): Json => {
  const m = base();
  m.unet = { ...(m.unet as Json), file };
  return m;
};

function refusal(m: unknown): string {
  try {
    parseManifest(m);
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return (e as Error).message;
  }
  throw new Error('the manifest was accepted');
}

describe('parseManifest file names', () => {
  it.each(['unet.onnx', 'unet.fp16.onnx', 'classifier_grad.onnx', 'U-Net_2.onnx', '0.onnx'])('accepts %s', (file) => {
    expect(parseManifest(withUnetFile(file)).unet.file).toBe(file);
  });

  it.each([
    'https:evil.example',
    'https://evil.example/unet.onnx',
    '//evil.example/unet.onnx',
    'javascript:alert(1)',
    'data:application/octet-stream,xx',
    '..',
    'a..onnx',
    '.hidden.onnx',
    '-unet.onnx',
    '_unet.onnx',
    'dir/unet.onnx',
    'dir\\unet.onnx',
    'unet.onnx?x=1',
    'unet.onnx#frag',
    'unet%2e%2e.onnx',
    'un et.onnx',
    'ünet.onnx',
    'unet.onnx\n',
    'a'.repeat(201),
  ])('refuses %j', (file) => {
    expect(refusal(withUnetFile(file))).toMatch(/^manifest\.unet\.file must be a plain file name inside the pack/);
  });

  it('checks the optional graphs too', () => {
    const m = base();
    m.classifierGrad = { ...(m.classifierGrad as Json), file: 'http:other.example' };
    expect(refusal(m)).toMatch(/^manifest\.classifierGrad\.file must be a plain file name/);
  });
});

describe('parseManifest labels', () => {
  const withLabels = (labels: unknown, ul: unknown = 3): Json => ({ ...base(), labels, unconditionalLabel: ul });

  it('accepts unique ImageNet indices and an unconditional label outside them', () => {
    expect(parseManifest(withLabels([0, 217, 999], 3)).labels).toEqual([0, 217, 999]);
    expect(parseManifest(withLabels([5], null)).unconditionalLabel).toBeNull();
    expect(parseManifest(withLabels(Array.from({ length: 1000 }, (_, i) => 999 - i), 1000)).labels).toHaveLength(1000);
  });

  it.each([
    ['a duplicate', [0, 217, 0], /manifest\.labels\[2\] must be unique/],
    ['5000 labels', Array.from({ length: 5000 }, (_, i) => i % 1000), /manifest\.labels must be a non-empty list of at most 1000/],
    ['1001 labels', Array.from({ length: 1001 }, (_, i) => i % 1000), /at most 1000/],
    ['an index of 1000', [0, 1000], /manifest\.labels\[1\] must be an ImageNet index 0\.\.999 \(got 1000\)/],
    ['a negative index', [-1], /manifest\.labels\[0\] must be an ImageNet index/],
    ['a fraction', [1.5], /manifest\.labels\[0\] must be an ImageNet index/],
    ['a string', ['7'], /manifest\.labels\[0\] must be an ImageNet index/],
    ['an empty list', [], /manifest\.labels must be a non-empty list/],
    ['no list', { 0: 1 }, /manifest\.labels must be a non-empty list/],
  ])('refuses %s', (_what, labels, message) => {
    expect(refusal(withLabels(labels, 1000))).toMatch(message);
  });

  // unconditionalLabel is a model label ("no class"), i.e. an index into the U-Net's label space,
  // so it must not be one of the class labels 0..labels.length-1 (docs/pack-format.md): the schema
  // refuses what is no label at all, the cross-field rule a class label.
  it.each([1, 2])('refuses unconditionalLabel %j for 3 labels', (ul) => {
    expect(refusal(withLabels([0, 217, 482], ul))).toMatch(/^manifest\.unconditionalLabel must be null or a label from 3 to 1000 \(outside the class labels 0\.\.2\)/);
  });
  it.each([0, -1, 1001, 2.5, '3', true])('refuses unconditionalLabel %j', (ul) => {
    expect(refusal(withLabels([0, 217, 482], ul))).toMatch(/^manifest\.unconditionalLabel must be null or a label outside the class labels, at most 1000/);
  });
});

describe('parseManifest respacing and bounds', () => {
  const withSampling = (timestepRespacing: unknown, diffusionSteps: unknown = 1000): Json => {
    const m = base();
    m.sampling = { ...(m.sampling as Json), timestepRespacing };
    m.diffusion = { ...(m.diffusion as Json), diffusionSteps };
    return m;
  };

  it.each(['ddim25', 'ddim1000', '250', '10,10,10', '1000'])('accepts %s', (r) => {
    expect(parseManifest(withSampling(r)).sampling.timestepRespacing).toBe(r);
  });

  it.each([
    ['ddim0', /timestepRespacing: bad timestep respacing "ddim0": it asks for 0 sampling steps/],
    ['0', /timestepRespacing: bad timestep respacing "0": section 0 asks for 0 steps/],
    ['ddim2000', /more steps than the process has/],
    ['1001', /cannot keep 1001/],
    ['ddim300', /no integer stride/],
    ['fast', /not a non-negative integer/],
    ['ddim-5', /not a non-negative integer/],
    ['', /timestepRespacing must be a non-empty string/],
  ])('refuses %j', (r, message) => {
    expect(refusal(withSampling(r))).toMatch(message);
  });

  it('refuses sizes that could never be allocated', () => {
    expect(refusal({ ...base(), imageSize: 1e6 })).toMatch(/manifest\.imageSize must be at most 1024/);
    expect(refusal(withSampling('ddim5', 1e9))).toMatch(/manifest\.diffusion\.diffusionSteps must be at most 10000/);
  });
});

describe('classifierLabelProblem (the classifier graph against the manifest labels)', () => {
  const meta = (k: number | string) => [
    { name: 'grad', isTensor: true, shape: ['N', 3, 8, 8] },
    { name: 'logp', isTensor: true, shape: ['N'] },
    { name: 'logits', isTensor: true, shape: ['N', k] },
  ];
  const m = { labels: [0, 217, 482] };
  it('accepts a matching or symbolic class count', () => {
    expect(classifierLabelProblem(meta(3), m, 'c.onnx')).toBeNull();
    expect(classifierLabelProblem(meta('K'), m, 'c.onnx')).toBeNull();
    expect(classifierLabelProblem([{ name: 'logits', isTensor: false }], m, 'c.onnx')).toBeNull();
  });
  it.each([2, 10, 1000])('refuses a classifier with %i classes for 3 labels', (k) => {
    expect(classifierLabelProblem(meta(k), m, 'c.onnx')).toBe(
      `c.onnx: the classifier has ${k} classes but the manifest lists 3 labels (labels[i] must name classifier class i)`,
    );
  });
});
