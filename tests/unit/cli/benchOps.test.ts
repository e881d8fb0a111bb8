// The bench's per-op profile reader (tools/bench/ops.ts): op kernel time of the last run only, from
// ORT-node's JSON file and from ORT-web's JSON lines.
import { describe, expect, it } from 'vitest';
import { opTimes, parseWebProfile } from '../../../tools/bench/ops';

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
