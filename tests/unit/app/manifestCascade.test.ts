// The manifest's optional upsampler (cascade) entry and graphs' externalData (docs/pack-format.md); the same
// rules as adm/manifest.py (tests/python/test_upsampler.py checks the two agree).
import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../../../src/shared/manifestCheck';
import { fakeManifest, fakeUpsampler } from './fakes';

type Json = Record<string, unknown>;
const SHA = 'ab'.repeat(32);

function cascade(): Json {
  const m = JSON.parse(JSON.stringify(fakeManifest())) as Json;
  m.upsampler = fakeUpsampler({ externalData: [{ file: 'upsampler.onnx.data', bytes: 99, sha256: SHA }] });
  (m.unet as Json).externalData = [{ file: 'unet.onnx.data', bytes: 5, sha256: SHA }];
  return m;
}

function refusal(m: Json): string {
  try {
    parseManifest(m);
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

const up = (m: Json) => m.upsampler as Json;

describe('manifest upsampler and externalData', () => {
  it('accepts a cascade pack with external data and keeps the fields', () => {
    const m = parseManifest(cascade());
    expect(m.upsampler?.imageSize).toBe(32);
    expect(m.upsampler?.lowResSize).toBe(8);
    expect(m.upsampler?.diffusion.noiseSchedule).toBe('linear');
    expect(m.upsampler?.sampling).toEqual({ timestepRespacing: '250', useDdim: false });
    expect(m.upsampler?.externalData).toEqual([{ file: 'upsampler.onnx.data', bytes: 99, sha256: SHA }]);
    expect(m.unet.externalData?.[0].file).toBe('unet.onnx.data');
    const plain = JSON.parse(JSON.stringify(fakeManifest())) as Json;
    expect(parseManifest(plain).upsampler).toBeUndefined();
    expect(parseManifest(plain).unet.externalData).toBeUndefined();
  });

  const cases: [string, (m: Json) => void, string][] = [
    ['lowResSize other than imageSize', (m) => { up(m).lowResSize = 16; }, 'manifest.upsampler.lowResSize'],
    ['imageSize not above the base', (m) => { up(m).imageSize = 8; }, 'manifest.upsampler.imageSize'],
    ['imageSize over the limit', (m) => { up(m).imageSize = 2048; }, 'manifest.upsampler.imageSize'],
    ['no low_res input', (m) => { up(m).inputs = ['x', 'timesteps', 'y']; }, 'manifest.upsampler.inputs'],
    ['no y for a class-conditional one', (m) => { up(m).inputs = ['x', 'timesteps', 'low_res']; }, 'manifest.upsampler.inputs'],
    ['bad schedule', (m) => { (up(m).diffusion as Json).noiseSchedule = 'sigmoid'; }, 'manifest.upsampler.diffusion.noiseSchedule'],
    ['bad respacing', (m) => { (up(m).sampling as Json).timestepRespacing = 'ddim0'; }, 'manifest.upsampler.sampling.timestepRespacing'],
    ['external path', (m) => { ((m.unet as Json).externalData as Json[])[0].file = '../x.data'; }, 'manifest.unet.externalData[0].file'],
    ['external = the graph', (m) => { ((m.unet as Json).externalData as Json[])[0].file = 'unet.onnx'; }, 'manifest.unet.externalData[0].file'],
    ['empty external list', (m) => { (m.unet as Json).externalData = []; }, 'manifest.unet.externalData'],
    ['external bytes 0', (m) => { ((m.unet as Json).externalData as Json[])[0].bytes = 0; }, 'manifest.unet.externalData[0].bytes'],
  ];
  it.each(cases)('refuses %s', (_, mutate, path) => {
    const m = cascade();
    mutate(m);
    const msg = refusal(m);
    expect(msg.startsWith(`${path} must`) || msg.startsWith(`${path}: `)).toBe(true);
  });
});
