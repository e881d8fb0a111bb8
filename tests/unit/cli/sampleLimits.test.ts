// tools/sample.ts refuses up front (exit 2, one line, nothing written, no sampling) what would
// exhaust memory, what the app's limits forbid, and outputs it could not write at the end (issue 13).
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSampleMemory, keptBytes, SAMPLE_LIMITS } from '../../../tools/lib/preflight';
import { ROOT, expectRefused, runTool } from './run';

const PACK = join(ROOT, 'tests/fixtures/cli-pack');
const TINY16 = join(ROOT, 'public/models/tiny16');
const tmp = mkdtempSync(join(tmpdir(), 'sample-limits-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const aFile = join(tmp, 'a-file');
writeFileSync(aFile, 'x');

// One CLI start per test: generous time on a loaded 2-core machine.
describe('tools/sample.ts refuses before any work', { timeout: 60_000 }, () => {
  const cases: [string, string[], RegExp][] = [
    ['a huge batch', ['--batch', '100000'], /--batch must be an integer >= 1 and <= 64 \(got "100000"\)/],
    ['huge num-samples', ['--batch', '4', '--num-samples', '100000'], /--num-samples must be an integer >= 1 and <= 10000/],
    ['scale 1e38', ['--scale', '1e38'], /--scale must be a number from 0 to 20, as in the app \(got "1e38"\)/],
    ['a negative scale', ['--scale', '-1'], /--scale must be a number from 0 to 20/],
    ['a negative cfg scale', ['--cfg-scale', '-2'], /--cfg-scale must be a number from 0 to 20/],
    ['a folder as --out', ['--out', tmp], /must name a \.png file/],
    ['--out in a read-only place', ['--out', '/proc/grid.png'], /--out: cannot write in \/proc/],
    ['--out below a file', ['--out', join(aFile, 'grid.png')], /--out: folder .* does not exist/],
    ['--save-samples in a read-only place', ['--save-samples', '/proc/samples'], /--save-samples: cannot write in \/proc/],
    ['--save-samples below a file', ['--save-samples', join(aFile, 'sub')], /--save-samples: .*a-file is not a folder/],
  ];
  it.each(cases)('%s', (_what, args, message) => {
    const withOut = args.includes('--out') ? args : [...args, '--out', join(tmp, 'must-not-exist.png')];
    const t0 = Date.now();
    const r = runTool('sample', ['--pack', PACK, '--class', '1', ...withOut]);
    expectRefused(r, 'sample', message, [join(tmp, 'must-not-exist.png')]);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(readdirSync(tmp).filter((f) => f.includes('probe'))).toEqual([]);
  });

  it('still writes into a writable folder (the probe file is gone)', () => {
    const out = join(tmp, 'ok.png');
    const dir = join(tmp, 'new', 'samples');
    const r = runTool('sample', ['--pack', PACK, '--class', '1', '--batch', '1', '--respacing', 'ddim2', '--out', out, '--save-samples', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['sample_00000.png', 'samples.json']);
    expect(readdirSync(tmp).filter((f) => f.includes('probe'))).toEqual([]);
  });

  it.skipIf(!existsSync(join(TINY16, 'manifest.json')))('refuses a pack whose labels do not match its classifier', () => {
    const dir = join(tmp, 'label-mismatch');
    cpSync(TINY16, dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { labels: number[]; unconditionalLabel: number };
    m.labels = [...m.labels, 999];
    m.unconditionalLabel = m.labels.length;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const r = runTool('sample', ['--pack', dir, '--class', String(m.labels[0]), '--batch', '1', '--respacing', 'ddim2', '--out', join(tmp, 'mm.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sample: error: invalid pack .*classifier_grad\.onnx: the classifier has 10 classes but the manifest lists 11 labels/);
  });
});

describe('memory estimate from the image size', () => {
  it('allows the app-sized runs and refuses what would not fit', () => {
    expect(() => checkSampleMemory(64, 10_000, 64)).not.toThrow();
    expect(() => checkSampleMemory(4, 1000, 256)).not.toThrow();
    expect(() => checkSampleMemory(16, 16, 256)).toThrow(/--batch 16 is too large for 256x256 images: at most 4 per batch/);
    expect(() => checkSampleMemory(4, 10_000, 256)).toThrow(/--num-samples 10000 at 256x256 would keep about 17\.1 GB in memory \(limit 2\.0 GB\): at most 1\d{3}/);
    expect(keptBytes(1, 64)).toBe(2 * 3 * 64 * 64 * 4 + 66 * 66 * 4);
    expect(SAMPLE_LIMITS.maxBatch).toBe(64);
  });
});
