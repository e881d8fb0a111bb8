// The bench's per-op profile reader (tools/bench/ops.ts): op kernel time of the last run only, from
// ORT-node's JSON file and from ORT-web's JSON lines.
import { describe, expect, it } from 'vitest';
import { convFloor, convFlops, convWork, opTimes, parseWebProfile, type GraphOps } from '../../../tools/bench/ops';

const kernel = (op: string, ts: number, dur: number) => ({ cat: 'Node', name: `/n/${op}_${ts}_kernel_time`, ts, dur, args: { op_name: op } });

describe('opTimes', () => {
  it('sums kernel time per op type inside the last model_run, in ms', () => {
    const events = [
      { cat: 'Session', name: 'model_run', ts: 0, dur: 100 },
      kernel('Conv', 10, 50_000), // first run: not counted
      { cat: 'Session', name: 'model_run', ts: 1000, dur: 100 },
      kernel('Conv', 1010, 2000),
      kernel('Conv', 1020, 1000),
      kernel('Add', 1030, 500),
      { cat: 'Node', name: '/n/Conv_fence_before', ts: 1040, dur: 9999, args: { op_name: 'Conv' } },
    ];
    const t = opTimes(events);
    expect(t.get('Conv')).toEqual({ ms: 3, count: 2 });
    expect(t.get('Add')).toEqual({ ms: 0.5, count: 1 });
    expect(() => opTimes([kernel('Conv', 1, 1)])).toThrow(/no model_run/);
  });

  it("reads ORT-web's printed JSON lines and skips everything else", () => {
    const lines = [
      'some log line',
      '[',
      '{"cat" : "Session","pid" :42,"tid" :1,"dur" :10,"ts" :5,"ph" : "X","name" :"model_run","args" : {}},',
      '{"cat" : "Node","pid" :42,"tid" :1,"dur" :4000,"ts" :6,"ph" : "X","name" :"/c_kernel_time","args" : {"op_name" : "Conv"}}',
      ']',
      '{"cat" : broken',
    ];
    const events = parseWebProfile(lines);
    expect(events).toHaveLength(2);
    expect(opTimes(events).get('Conv')).toEqual({ ms: 4, count: 1 });
  });
});

// A Conv kernel event as ORT records it: input and output shapes keyed by element type.
const conv = (ts: number, dur: number, w: number[], y: number[], op = 'Conv') => ({
  cat: 'Node', name: `/n/${op}_${ts}_kernel_time`, ts, dur,
  args: { op_name: op, input_type_shape: [{ float: [1, w[1], y[2], y[3]] }, { float: w }, { float: [w[0]] }], output_type_shape: [{ float: y }] },
});

describe('convWork', () => {
  it('counts 2 FLOPs per multiply-add from the recorded weight and output shapes', () => {
    // 32 -> 32 channels, 3x3, 64x64 output: 2 * 32*64*64 * 32*3*3
    expect(convFlops(conv(0, 1, [32, 32, 3, 3], [1, 32, 64, 64]))).toBe(2 * 131072 * 288);
    // grouped: the weight's second dim is Cin/group already (depthwise 16 channels, 3x3)
    expect(convFlops(conv(0, 1, [16, 1, 3, 3], [1, 16, 8, 8]))).toBe(2 * 1024 * 9);
    expect(convFlops({ cat: 'Node', name: 'x_kernel_time', args: { op_name: 'Conv' } })).toBeNull();
  });

  it('sums the last run only, Conv and FusedConv, and gives the rate', () => {
    const events = [
      { cat: 'Session', name: 'model_run', ts: 0, dur: 100 },
      conv(10, 99_000, [32, 32, 3, 3], [1, 32, 64, 64]), // first run: not counted
      { cat: 'Session', name: 'model_run', ts: 1000, dur: 5000 },
      conv(1010, 1000, [32, 32, 3, 3], [1, 32, 64, 64]), // 75.497472 MFLOP in 1 ms
      conv(1020, 1000, [32, 32, 3, 3], [1, 32, 64, 64], 'FusedConv'),
      kernel('Add', 1030, 500),
    ];
    expect(convWork(events)).toEqual({ gflop: 0.151, ms: 2, gflopPerS: 75.5, count: 2 });
    expect(convWork([{ cat: 'Session', name: 'model_run', ts: 0, dur: 10 }, kernel('Add', 1, 1)])).toBeNull();
  });

  it('puts the floor at 1 + gradient conv FLOPs / U-Net conv FLOPs', () => {
    const g = (graph: string, gflop: number | null): GraphOps => ({
      graph, nodeMs: 1, wasmMs: 1, ratio: 1, ops: [], wasmConv: gflop === null ? null : { gflop, ms: 1, gflopPerS: gflop * 1000, count: 1 },
    });
    expect(convFloor([g('unet', 3.658), g('classifierGrad', 1.239)])).toEqual({ gflopRatio: 0.34, guidedOverUnguided: 1.34 });
    expect(convFloor([g('unet', 3.658)])).toBeNull();
    expect(convFloor([g('unet', 3.658), g('classifierGrad', null)])).toBeNull();
  });
});
