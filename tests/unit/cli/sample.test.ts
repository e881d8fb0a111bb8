import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { toRgba, type Shape4 } from '../../../src/diffusion';
import { expectClose, fixture } from '../diffusion/helpers';
import { ROOT, expectRefused, runTool } from './run';

// tests/fixtures/cli-pack: analytic fake networks exported to ONNX by tests/fixtures/make_cli_pack.py,
// which also ran adm/diffusion.py (with a Python port of the TS rng) to get the expected samples.
const PACK = join(ROOT, 'tests/fixtures/cli-pack');
const TINY16 = join(ROOT, 'public/models/tiny16');
interface Run { name: string; args: string[]; classes: number[] | null; labels: number[] | null; steps: number; x: number[]; logp: (number | null)[] }
const golden = fixture<{ imageSize: number; runs: Run[] }>('cli_sample.json');
const S = golden.imageSize;

const tmp = mkdtempSync(join(tmpdir(), 'sample-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Summary {
  settings: { steps: number; ddim: boolean; scale: number; numSamples: number };
  samples: { index: number; imagenetClass: number | null; label: number | null; logp: number | null }[];
  msPerStep: number;
  out: string | null;
}

function readPng(path: string): PNG {
  return PNG.sync.read(readFileSync(path));
}

/** Every byte within ±1 (float32 rounding on both sides can straddle a byte boundary). */
function expectBytesClose(actual: Uint8Array, expected: Uint8ClampedArray, what: string): void {
  expect(actual.length).toBe(expected.length);
  let off = 0;
  for (let k = 0; k < actual.length; k++) if (Math.abs(actual[k] - expected[k]) > 1) off++;
  expect(off, `${what}: bytes off by more than 1`).toBe(0);
}

describe('tools/sample.ts on the fake-network pack', () => {
  it.each(golden.runs.map((r) => [r.name, r] as const))('%s reproduces adm/diffusion.py', (_, run) => {
    const dir = join(tmp, run.name);
    const out = join(tmp, `${run.name}.png`);
    const r = runTool('sample', ['--pack', PACK, ...run.args, '--out', out, '--save-samples', dir]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as Summary;
    const n = run.logp.length;
    expect(summary.settings.steps).toBe(run.steps);
    expect(summary.samples.map((s) => s.imagenetClass)).toEqual(run.classes ?? new Array(n).fill(null));
    expect(summary.samples.map((s) => s.label)).toEqual(run.labels ?? new Array(n).fill(null));
    if (run.logp[0] === null) {
      expect(summary.samples.every((s) => s.logp === null)).toBe(true);
    } else {
      expectClose(summary.samples.map((s) => s.logp as number), run.logp as number[], 1e-4, 1e-4, 'logp');
    }
    expect(summary.msPerStep).toBeGreaterThan(0);

    // One PNG per sample, equal to the reference's uint8 conversion of the Python result.
    const shape: Shape4 = [n, 3, S, S];
    const x = Float32Array.from(run.x);
    const listing = JSON.parse(readFileSync(join(dir, 'samples.json'), 'utf8')) as { samples: { file: string; logp: number | null }[] };
    expect(listing.samples).toHaveLength(n);
    listing.samples.forEach((s, k) => {
      const png = readPng(join(dir, s.file));
      expect([png.width, png.height]).toEqual([S, S]);
      expectBytesClose(png.data, toRgba(x, shape, k), `${run.name} sample ${k}`);
    });
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);

    // The grid: ceil(sqrt(n)) columns, 2 px padding.
    const cols = Math.ceil(Math.sqrt(n));
    const grid = readPng(out);
    expect(grid.width).toBe(cols * S + (cols - 1) * 2);
    expect(grid.height).toBe(Math.ceil(n / cols) * S + (Math.ceil(n / cols) - 1) * 2);
  });

  it('--batch-range parts of a run are exactly the whole run\'s samples', () => {
    const base = ['--pack', PACK, '--class', '1,207,360', '--scale', '2', '--respacing', 'ddim4', '--seed', '7', '--batch', '2', '--num-samples', '5'];
    const whole = join(tmp, 'range-whole');
    expect(runTool('sample', [...base, '--save-samples', whole]).code).toBe(0);
    const parts = [[0, 1], [1, 3]].map(([a, b]) => {
      const dir = join(tmp, `range-${a}-${b}`);
      const r = runTool('sample', [...base, '--batch-range', `${a},${b}`, '--save-samples', dir]);
      expect(r.code, r.stderr).toBe(0);
      return dir;
    });
    type Listing = { settings: { batchRange: number[] }; samples: { index: number; label: number; logp: number; file: string }[] };
    const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'samples.json'), 'utf8')) as Listing;
    const joined = parts.flatMap((d) => read(d).samples.map((s) => ({ ...s, dir: d })));
    const all = read(whole).samples;
    expect(read(parts[1]).settings.batchRange).toEqual([1, 3]);
    const fields = ({ index, label, logp, file }: Listing['samples'][number]) => ({ index, label, logp, file });
    expect(joined.map(fields)).toEqual(all.map(fields));
    for (const s of joined) expect(readFileSync(join(s.dir, s.file))).toEqual(readFileSync(join(whole, s.file)));
  }, 60_000);

  it('uses the manifest sampling defaults (ddim10, DDIM, scale 1)', () => {
    const r = runTool('sample', ['--pack', PACK, '--class', '360', '--batch', '1', '--out', join(tmp, 'defaults.png')]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect([s.settings.steps, s.settings.ddim, s.settings.scale]).toEqual([10, true, 1]);
  });
});

describe('tools/sample.ts bad input: exit 2, one line, nothing written', () => {
  const brokenPack = (name: string, edit: (dir: string) => void): string => {
    const dir = join(tmp, name);
    cpSync(PACK, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  const editManifest = (dir: string, f: (m: Record<string, unknown>) => void) => {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    f(m);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  };
  const cases: [string, () => string[], RegExp][] = [
    ['missing pack', () => ['--pack', join(tmp, 'nope'), '--class', '1'], /pack folder .* does not exist/],
    ['invalid manifest', () => ['--pack', brokenPack('bad-manifest', (d) => editManifest(d, (m) => delete m.labels)), '--class', '1'],
      /invalid pack .*manifest\.labels/],
    ['manifest not JSON', () => ['--pack', brokenPack('not-json', (d) => writeFileSync(join(d, 'manifest.json'), '{')), '--class', '1'],
      /not valid JSON/],
    ['sha mismatch', () => ['--pack', brokenPack('bad-sha', (d) => {
      const f = join(d, 'unet.onnx');
      const b = readFileSync(f);
      b[b.length - 1] ^= 1;
      writeFileSync(f, b);
    }), '--class', '1'], /sha256 mismatch for unet\.onnx/],
    ['size mismatch', () => ['--pack', brokenPack('bad-size', (d) => writeFileSync(join(d, 'classifier_grad.onnx'), 'x')), '--class', '1'],
      /classifier_grad\.onnx has 1 bytes/],
    ['class not in pack', () => ['--pack', PACK, '--class', '999'], /class 999 is not in pack cli-test-pack/],
    ['class not a number', () => ['--pack', PACK, '--class', 'dog'], /--class must be an integer/],
    ['scale not finite', () => ['--pack', PACK, '--class', '1', '--scale', 'Infinity'], /--scale must be a finite number/],
    ['scale not a number', () => ['--pack', PACK, '--class', '1', '--scale', 'lots'], /--scale must be a finite number/],
    ['unknown respacing', () => ['--pack', PACK, '--class', '1', '--respacing', 'fast'], /bad timestep respacing "fast"/],
    ['ddim stride impossible', () => ['--pack', PACK, '--class', '1', '--respacing', 'ddim300'], /no integer stride/],
    ['section too large', () => ['--pack', PACK, '--class', '1', '--respacing', '600,10'], /cannot keep 600/],
    ['no unconditional label', () => ['--pack', brokenPack('no-uncond', (d) => editManifest(d, (m) => (m.unconditionalLabel = null))),
      '--class', '1', '--unconditional'], /has no unconditionalLabel/],
    ['class missing', () => ['--pack', PACK], /--class is required/],
    ['unknown flag', () => ['--pack', PACK, '--class', '1', '--steps', '5'], /unknown flag --steps/],
    ['bad batch', () => ['--pack', PACK, '--class', '1', '--batch', '0'], /--batch must be an integer >= 1/],
    ['batch range past the run', () => ['--pack', PACK, '--class', '1', '--batch', '2', '--num-samples', '4', '--batch-range', '1,3'],
      /--batch-range must be FROM,TO with 0 <= FROM < TO <= 2/],
  ];

  it.each(cases)('%s', (_, args, message) => {
    const out = join(tmp, 'must-not-exist.png');
    const samplesDir = join(tmp, 'must-not-exist');
    const r = runTool('sample', [...args(), '--out', out, '--save-samples', samplesDir]);
    expectRefused(r, 'sample', message, [out, samplesDir]);
  });
});

describe.skipIf(!existsSync(join(TINY16, 'manifest.json')))('tools/sample.ts on public/models/tiny16', () => {
  it('samples a guided DDIM batch and reports logp', () => {
    const m = JSON.parse(readFileSync(join(TINY16, 'manifest.json'), 'utf8')) as { labels: number[]; classifierGrad?: unknown };
    const out = join(tmp, 'tiny16.png');
    const args = ['--pack', TINY16, '--class', String(m.labels[0]), '--respacing', 'ddim5', '--ddim', '--seed', '1', '--batch', '2', '--out', out];
    if (!m.classifierGrad) args.push('--scale', '0');
    const r = runTool('sample', args);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.samples).toHaveLength(2);
    if (m.classifierGrad) expect(s.samples.every((x) => typeof x.logp === 'number' && x.logp <= 0)).toBe(true);
    const png = readPng(out);
    expect(png.width).toBe(2 * 16 + 2);
  });
});
