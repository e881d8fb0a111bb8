// The pure parts of tools/fullsize_browser.ts: reading /proc lines, folding memory samples, and telling
// the app's up-front refusals (with their real wording, from the app's own code) from load failures.
import { describe, expect, it } from 'vitest';
import { classifyLoadError, parseLoadLine } from '../../../tools/fullsize/appRun';
import { descendants, foldSample, parseRollup, parseStat, processKind } from '../../../tools/fullsize/procmem';
import { chooseGraphs, GraphChoiceError } from '../../../src/worker/runtime/graphChoice';
import { quotaProblem } from '../../../src/worker/storage/quota';
import type { PackManifest } from '../../../src/shared/manifest';

describe('/proc parsing', () => {
  it('reads pid and ppid even when the command name holds spaces and parentheses', () => {
    expect(parseStat('4242 (chromium) S 4200 4242 4200 0 -1 4194560 ...')).toEqual({ pid: 4242, ppid: 4200 });
    expect(parseStat('77 (Web Content) (x)) R 12 77 12 0')).toEqual({ pid: 77, ppid: 12 });
    expect(parseStat('garbage')).toBeNull();
  });

  it('reads Rss and Pss in KiB, and nothing for a kernel thread', () => {
    const rollup = '55d0c0a4f000-7ffd5a1f2000 ---p 00000000 00:00 0  [rollup]\nRss:              158148 kB\nPss:               81241 kB\nPss_Dirty:         41964 kB\n';
    expect(parseRollup(rollup)).toEqual({ rssKiB: 158148, pssKiB: 81241 });
    expect(parseRollup('')).toBeNull();
  });

  it('names Chromium processes by --type', () => {
    expect(processKind('/usr/lib/chromium/chromium\0--type=renderer\0--lang=en-US\0')).toBe('renderer');
    expect(processKind('/usr/lib/chromium/chromium --type=utility --utility-sub-type=network.mojom.NetworkService')).toBe('utility');
    expect(processKind('/usr/lib/chromium/chromium\0--no-sandbox\0--headless\0')).toBe('browser');
    expect(processKind('')).toBe('unknown');
  });

  it('collects the process tree under a root, without excluded subtrees', () => {
    const rows = [
      { pid: 10, ppid: 1 }, { pid: 11, ppid: 10 }, { pid: 12, ppid: 11 }, { pid: 13, ppid: 10 }, { pid: 14, ppid: 13 }, { pid: 20, ppid: 1 },
    ];
    expect([...descendants(rows, 10)].sort()).toEqual([11, 12, 13, 14]);
    expect([...descendants(rows, 10, [13])].sort()).toEqual([11, 12]);
    expect(descendants(rows, 99).size).toBe(0);
  });
});

describe('memory peaks', () => {
  it('keeps the highest sums with the PSS split by role, and the largest single process', () => {
    const row = (pid: number, rssKiB: number, pssKiB: number, kind: string) => ({ pid, ppid: 1, rssKiB, pssKiB, kind });
    let p = foldSample(undefined, [row(1, 1024, 512, 'browser'), row(2, 4096, 3072, 'renderer')]);
    p = foldSample(p, [row(1, 2048, 1024, 'browser'), row(2, 4096, 1024, 'renderer')]);
    expect(p).toEqual({
      peakRssMiB: 6, peakPssMiB: 3.5, byKindPssMiB: { browser: 0.5, renderer: 3 }, largestProcessMiB: 4, largestProcessKind: 'renderer', samples: 2,
    });
  });
});

describe('load outcome', () => {
  const graph = (file: string, bytes: number, dtype: 'float32' | 'float16' = 'float32') => ({ file, bytes, sha256: 'a'.repeat(64), dtype });
  const refusal = (m: Partial<PackManifest>) => {
    try {
      chooseGraphs(m as PackManifest, 'wasm', false);
    } catch (e) {
      expect(e).toBeInstanceOf(GraphChoiceError);
      return (e as Error).message;
    }
    throw new Error('not refused');
  };

  it("counts the app's own refusals as refusals", () => {
    expect(classifyLoadError(refusal({ unet: graph('unet.onnx', 2 ** 31) } as Partial<PackManifest>))).toBe('refused');
    expect(classifyLoadError(refusal({ unet: graph('unet.onnx', 1e6, 'float16') } as Partial<PackManifest>))).toBe('refused');
    expect(classifyLoadError(refusal({ unet: graph('unet.onnx', 2 ** 31 - 2), classifierGrad: graph('g.onnx', 2 ** 30) } as Partial<PackManifest>))).toBe('refused');
    expect(classifyLoadError(quotaProblem(2 ** 31, { quota: 2 ** 30, usage: 0, persisted: null })!)).toBe('refused');
  });

  it('counts anything else as a load error', () => {
    expect(classifyLoadError('Aborted(). Build with -sASSERTIONS for more info.')).toBe('load-error');
    expect(classifyLoadError('unet.onnx: sha256 mismatch')).toBe('load-error');
  });

  it("reads the worker's load line into phases", () => {
    const line = '[pack] x ready on wasm: total 812 ms = manifest 3 ms (network), fetch 40 ms (12.5 MB), hash 5 ms, store 6 ms, ' +
      'read 0 ms (0 B), runtime start-up 300 ms (overlapped), sessions 200 ms, warm-up 250 ms [storage: opfs]';
    expect(parseLoadLine(line)).toEqual({
      total: 812, manifest: 3, fetch: 40, hash: 5, store: 6, read: 0, 'runtime start-up': 300, sessions: 200, 'warm-up': 250,
    });
    // Since the hashing thread: the model files' wall time around the phases that overlap in it.
    const now = '[pack] x ready on wasm: total 812 ms = manifest 3 ms (network), model files 61 ms (fetch 40 ms (12.5 MB), ' +
      'hash 5 ms (hashing thread 30 ms), store 6 ms, read 0 ms (0 B)), runtime start-up 300 ms (overlapped), sessions 200 ms, warm-up 250 ms [storage: opfs]';
    expect(parseLoadLine(now)).toEqual({
      total: 812, manifest: 3, 'model files': 61, fetch: 40, hash: 5, 'hashing thread': 30, store: 6, read: 0, 'runtime start-up': 300, sessions: 200, 'warm-up': 250,
    });
  });
});
