import { describe, expect, expectTypeOf, it } from 'vitest';
import { assertNever, DEFAULTS, LIMITS, type FromWorker, type FromWorkerKind, type ToWorker, type ToWorkerKind } from '../../../src/shared/protocol';

// Compile-time: both unions are exactly these variants. Adding one fails here and in every
// exhaustive switch (worker/main.ts, ui/bridge/route.ts) until it is handled.
expectTypeOf<ToWorkerKind>().toEqualTypeOf<
  'load' | 'storageEstimate' | 'listStored' | 'deleteStored' | 'importCheckpoints' | 'generate' | 'setScale' | 'setPreview' | 'cancel'
>();
expectTypeOf<FromWorkerKind>().toEqualTypeOf<
  | 'progress' | 'ready' | 'loadError' | 'loadStage' | 'needStorageEstimate' | 'storedPacks' | 'started' | 'frame' | 'gridFrame' | 'gridReadout' | 'done' | 'cancelled' | 'error' | 'deviceLost'
  | 'importRecognised' | 'importProgress' | 'importDone' | 'importError'
>();

// Every run-scoped message carries a runId.
type RunScoped<M> = M extends {
  kind: 'generate' | 'setScale' | 'setPreview' | 'cancel' | 'started' | 'frame' | 'gridFrame' | 'gridReadout' | 'done' | 'cancelled' | 'error';
} ? M : never;
expectTypeOf<RunScoped<ToWorker | FromWorker>>().toMatchTypeOf<{ runId: number }>();

function describeMsg(m: FromWorker): string {
  switch (m.kind) {
    case 'progress':
    case 'ready':
    case 'loadError':
    case 'loadStage':
    case 'needStorageEstimate':
      return `load ${m.loadId}`;
    case 'storedPacks':
      return 'storage';
    case 'started':
    case 'frame':
    case 'gridFrame':
    case 'gridReadout':
    case 'done':
    case 'cancelled':
    case 'error':
      return `run ${m.runId}`;
    case 'deviceLost':
      return 'device';
    case 'importRecognised':
    case 'importProgress':
    case 'importDone':
    case 'importError':
      return `import ${m.importId}`;
    default:
      return assertNever(m);
  }
}

describe('protocol', () => {
  it('exhaustive handlers compile and assertNever throws on an unknown message', () => {
    expect(describeMsg({ kind: 'done', runId: 3, ms: 1 })).toBe('run 3');
    expect(() => assertNever({ kind: 'bogus' } as never)).toThrow(/unhandled message/);
  });

  it('defaults lie within the limits', () => {
    expect(DEFAULTS.classifierScale).toBeGreaterThanOrEqual(LIMITS.classifierScale.min);
    expect(DEFAULTS.classifierScale).toBeLessThanOrEqual(LIMITS.classifierScale.max);
    expect(DEFAULTS.steps).toBeLessThanOrEqual(LIMITS.steps.max);
    expect(DEFAULTS.seed).toBeGreaterThanOrEqual(LIMITS.seed.min);
  });
});
