// The external-data scanner (src/shared/onnxExternal.ts) every pack reader uses before ONNX Runtime
// sees a graph: it finds the locations a graph would read, wherever a tensor may sit, and a control run
// shows ORT really opens such a file by itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { externalDataProblem, externalDataRefs } from '../../../src/shared/onnxExternal';
import { addModel, int, msg, str, tensor, withExternalInitializer } from '../../fixtures/onnxPayloads';
import { ROOT } from '../cli/run';

const tmp = mkdtempSync(join(tmpdir(), 'onnx-external-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ext = (name: string, location: string) => tensor(name, [4], { location, length: 16 });
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('externalDataRefs / externalDataProblem', () => {
  it('a control: ONNX Runtime reads the file a graph names, beside the graph, on its own', async () => {
    writeFileSync(join(tmp, 'm.onnx'), addModel({ location: 'evil.data' }));
    writeFileSync(join(tmp, 'evil.data'), new Uint8Array(Float32Array.of(100, 200, 300, 400).buffer));
    const s = await ort.InferenceSession.create(join(tmp, 'm.onnx'));
    const y = (await s.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4]) })).y.data;
    expect([...(y as Float32Array)]).toEqual([100, 200, 300, 400]);
    expect(externalDataProblem(addModel({ location: 'evil.data' }), 'm.onnx', [])).toMatch(
      /^m\.onnx: tensor "W" takes its data from "evil\.data", which is not one of this graph's external-data files in the manifest \(none\)$/,
    );
  });

  it('finds none in the shipped packs, and the exporter\'s own reference when it is listed', () => {
    for (const f of ['unet.onnx', 'unet.fp16.onnx', 'classifier_grad.onnx']) {
      expect(externalDataRefs(readFileSync(join(ROOT, 'public/models/tiny16', f)))).toEqual([]);
    }
    const m = addModel({ location: 'unet.onnx.data' });
    expect(externalDataProblem(m, 'unet.onnx', ['unet.onnx.data'])).toBeNull();
    expect(externalDataProblem(m, 'unet.onnx', ['other.data'])).toMatch(/"unet\.onnx\.data", which is not one of .* \(other\.data\)/);
  });

  it('finds references in merged graphs, attributes, subgraphs, sparse tensors, functions and training info', () => {
    const nodeBody = (...parts: Uint8Array[]) => cat(str(4, 'Op'), msg(5, str(1, 'a'), ...parts)); // one attribute
    const attr = (...parts: Uint8Array[]) => msg(1, nodeBody(...parts)); // GraphProto.node
    const cases: [string, Uint8Array][] = [
      ['a second graph field', withExternalInitializer(addModel(Float32Array.of(1, 2, 3, 4)), 'a.bin')],
      ['a Constant value', msg(7, attr(msg(5, ext('t', 'a.bin'))))],
      ['an attribute list', msg(7, attr(msg(10, ext('t', 'a.bin'))))],
      ['an If branch', msg(7, attr(msg(6, msg(5, ext('t', 'a.bin')))))],
      ['a Loop body in a Loop body', msg(7, attr(msg(11, attr(msg(6, msg(5, ext('t', 'a.bin')))))))],
      ['a sparse initializer', msg(7, msg(15, msg(1, ext('t', 'a.bin'))))],
      ['a sparse attribute', msg(7, attr(msg(22, msg(2, ext('t', 'a.bin')))))],
      ['a function', msg(25, msg(7, nodeBody(msg(5, ext('t', 'a.bin')))))],
      ['training info', msg(20, msg(2, msg(5, ext('t', 'a.bin'))))],
      ['data_location alone (no location: the graph file itself)', msg(7, msg(5, cat(str(8, 't'), int(14, 1))))],
    ];
    for (const [what, bytes] of cases) {
      const refs = externalDataRefs(bytes);
      expect(refs, what).toHaveLength(1);
      expect(externalDataProblem(bytes, 'g.onnx', ['b.bin']), what).toMatch(/not one of this graph's external-data files/);
    }
    // ORT's in-memory address tag is just another unlisted location.
    expect(externalDataProblem(addModel({ location: '*/_ORT_MEM_ADDR_/*' }), 'g.onnx', [])).toMatch(/_ORT_MEM_ADDR_/);
  });

  it('refuses bytes that are not a readable protobuf, and graphs nested without end', () => {
    const model = addModel(Float32Array.of(1, 2, 3, 4));
    expect(externalDataProblem(model.subarray(0, model.length - 3), 'g.onnx', [])).toMatch(/^g\.onnx is not a readable ONNX graph \(truncated protobuf/);
    expect(externalDataProblem(Uint8Array.of(0x07, 0x07), 'g.onnx', [])).toMatch(/malformed protobuf \(wire type 7\)/);
    // An unknown group (wire types 3/4) is skipped as protobuf skips it; a reference after it is still found.
    const group = Uint8Array.of(0xc3, 0x3e, 0x08, 0x01, 0xc4, 0x3e); // field 1000: start group, a varint, end group
    expect(externalDataRefs(cat(group, addModel({ location: 'x.bin' })))).toEqual([{ tensor: 'W', location: 'x.bin' }]);
    expect(externalDataProblem(Uint8Array.of(0xc3, 0x3e, 0x08, 0x01), 'g.onnx', [])).toMatch(/not a readable ONNX graph/);
    let g = msg(5, ext('t', 'a.bin'));
    for (let i = 0; i < 80; i++) g = msg(1, str(4, 'If'), msg(5, str(1, 'then_branch'), msg(6, g)));
    expect(externalDataProblem(msg(7, g), 'g.onnx', [])).toMatch(/graphs nested more than 64 deep/);
  });
});
