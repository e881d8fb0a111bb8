// A graph with ONNX external data (docs/pack-format.md "Graphs over 2 GB") is not loaded by the app yet: the
// choice falls back to a self-contained graph (the fp16 copy) or refuses with the reason, before any download.
import { describe, expect, it } from 'vitest';
import { GraphChoiceError, chooseGraphs } from '../../../src/worker/graphChoice';
import { fakeManifest } from './fakes';

const external = { externalData: [{ file: 'unet.onnx.data', bytes: 2_300_000_000, sha256: 'b'.repeat(64) }] };

describe('graphs with external data', () => {
  it('uses the self-contained fp16 U-Net instead, with a note', () => {
    const m = fakeManifest();
    m.unet = { ...m.unet, ...external };
    m.unetFp16 = { ...m.unet, file: 'unet.fp16.onnx', dtype: 'float16', externalData: undefined };
    delete m.unetFp16.externalData;
    const c = chooseGraphs(m, 'webgpu', true);
    expect(c.unet.file).toBe('unet.fp16.onnx');
    const w = (() => { try { return chooseGraphs(m, 'wasm', false); } catch (e) { return e; } })();
    expect(w).toBeInstanceOf(GraphChoiceError);
    expect(String((w as Error).message)).toContain('external-data');
  });
});
