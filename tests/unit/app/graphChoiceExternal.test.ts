// A graph with ONNX external data (docs/pack-format.md "Graphs over 2 GB") is loaded with its data
// files: the 2 GiB protobuf limit applies to the .onnx file alone, the wasm heap estimate counts the
// data, and the parts to fetch are the .onnx file then its data files.
import { describe, expect, it } from 'vitest';
import { chooseGraphs, graphBytes, graphParts } from '../../../src/worker/runtime/graphChoice';
import { fakeManifest } from './fakes';

const data = { file: 'unet.onnx.data', bytes: 2_300_000_000, sha256: 'b'.repeat(64) };
const external = { bytes: 800_000, externalData: [data] };

describe('graphs with external data', () => {
  it('are chosen like self-contained graphs (the fp32 one on wasm, the fp16 one on WebGPU with shader-f16)', () => {
    const m = fakeManifest();
    m.unet = { ...m.unet, ...external };
    m.unetFp16 = { ...m.unet, file: 'unet.fp16.onnx', dtype: 'float16', bytes: 1_200_000_000, externalData: undefined };
    delete m.unetFp16.externalData;
    expect(chooseGraphs(m, 'webgpu', true).unet.file).toBe('unet.fp16.onnx');
    expect(chooseGraphs(m, 'wasm', false)).toMatchObject({ unet: { file: 'unet.onnx' }, note: null });
  });

  it('count their data in the wasm heap estimate', () => {
    const m = fakeManifest();
    m.unet = { ...m.unet, bytes: 800_000, externalData: [{ ...data, bytes: 4_300_000_000 }] };
    expect(() => chooseGraphs(m, 'wasm', false)).toThrow(/its graphs need about 4\.30 GB of WebAssembly memory/);
  });

  it('are fetched as the .onnx file, then each data file', () => {
    const g = { ...fakeManifest().unet, ...external };
    expect(graphParts(g)).toEqual([{ file: 'unet.onnx', bytes: 800_000, sha256: g.sha256 }, data]);
    expect(graphBytes(g)).toBe(2_300_800_000);
  });
});
