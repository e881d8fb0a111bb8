// `sample` with classifier-free guidance (--mode cfg|both, --cfg-scale, --guidance-interval) on the
// fake-network pack, against tests/fixtures/diffusion/cfg.json (adm/diffusion.py cfg_sample driven by
// the Python port of the TypeScript rng), plus its input checks.
import { mkdtempSync, readFileSync, rmSync, cpSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { toRgba, type Shape4 } from '../../../src/diffusion';
import { expectClose, fixture } from '../diffusion/helpers';
import { ROOT, expectRefused, runTool } from './run';

const PACK = join(ROOT, 'tests/fixtures/cli-pack');
interface Run { name: string; args: string[]; classes: number[]; labels: number[]; steps: number; x: number[]; logp: number[] }
const golden = fixture<{ cli: { imageSize: number; runs: Run[] } }>('cfg.json').cli;
const S = golden.imageSize;

const tmp = mkdtempSync(join(tmpdir(), 'sample-cfg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Summary {
  settings: { mode: string; scale: number; cfgScale: number; guidanceInterval: number[] | null; steps: number };
  samples: { imagenetClass: number; label: number; logp: number }[];
  msPerImage: number;
  msUnetPerStep: number;
  msClassifierPerStep: number;
}

describe('tools/sample.ts with classifier-free guidance', () => {
  it.each(golden.runs.map((r) => [r.name, r] as const))('%s reproduces adm/diffusion.py', (_, run) => {
    const dir = join(tmp, run.name);
    const r = runTool('sample', ['--pack', PACK, ...run.args, '--save-samples', dir]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as Summary;
    expect(summary.settings.steps).toBe(run.steps);
    expect(summary.samples.map((s) => s.label)).toEqual(run.labels);
    expectClose(summary.samples.map((s) => s.logp), run.logp, 1e-4, 1e-4, 'logp');
    expect(summary.msPerImage).toBeGreaterThan(0);
    const n = run.labels.length;
    const x = Float32Array.from(run.x);
    const shape: Shape4 = [n, 3, S, S];
    const listing = JSON.parse(readFileSync(join(dir, 'samples.json'), 'utf8')) as { samples: { file: string }[] };
    listing.samples.forEach((s, k) => {
      const png = PNG.sync.read(readFileSync(join(dir, s.file)));
      const want = toRgba(x, shape, k);
      let off = 0;
      for (let j = 0; j < want.length; j++) if (Math.abs(png.data[j] - want[j]) > 1) off++;
      expect(off, `${run.name} sample ${k}: bytes off by more than 1`).toBe(0);
    });
  });

  it('chooses the mode from the flags given and reports the scales', { timeout: 120_000 }, () => {
    const modeOf = (args: string[]) => {
      const r = runTool('sample', ['--pack', PACK, '--class', '1', '--batch', '1', '--respacing', 'ddim2', '--out', join(tmp, 'm.png'), ...args]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as Summary).settings;
    };
    expect(modeOf([])).toMatchObject({ mode: 'classifier', scale: 1, cfgScale: 0, guidanceInterval: null });
    expect(modeOf(['--cfg-scale', '2'])).toMatchObject({ mode: 'cfg', scale: 0, cfgScale: 2 });
    expect(modeOf(['--cfg-scale', '2', '--scale', '3'])).toMatchObject({ mode: 'both', scale: 3, cfgScale: 2 });
    expect(modeOf(['--mode', 'cfg'])).toMatchObject({ mode: 'cfg', cfgScale: 3 }); // the app default w
    expect(modeOf(['--mode', 'both', '--guidance-interval', '0,500'])).toMatchObject({ mode: 'both', scale: 1, guidanceInterval: [0, 500] });
  });

  it('a manifest default mode and scale apply when no guidance flag is given', () => {
    const dir = join(tmp, 'pack-cfg-default');
    cpSync(PACK, dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { sampling: Record<string, unknown> };
    m.sampling.guidanceMode = 'cfg';
    m.sampling.cfgScale = 4.5;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const r = runTool('sample', ['--pack', dir, '--class', '1', '--batch', '1', '--respacing', 'ddim2', '--out', join(tmp, 'd.png')]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Summary).settings).toMatchObject({ mode: 'cfg', cfgScale: 4.5, scale: 0 });
    const u = runTool('sample', ['--pack', dir, '--unconditional', '--scale', '0', '--batch', '1', '--respacing', 'ddim2', '--out', join(tmp, 'u.png')]);
    expect(u.code, u.stderr).toBe(0);
    expect((JSON.parse(u.stdout) as Summary).settings.mode).toBe('classifier');
  });

  const noUncond = () => {
    const dir = join(tmp, 'pack-no-uncond');
    if (!existsSync(dir)) {
      cpSync(PACK, dir, { recursive: true });
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      m.unconditionalLabel = null;
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    }
    return dir;
  };
  it.each([
    ['unknown mode', () => ['--pack', PACK, '--class', '1', '--mode', 'free'], /--mode must be one of classifier, cfg, both/],
    ['cfg scale not a number', () => ['--pack', PACK, '--class', '1', '--cfg-scale', 'lots'], /--cfg-scale must be a finite number/],
    ['cfg scale with classifier mode', () => ['--pack', PACK, '--class', '1', '--mode', 'classifier', '--cfg-scale', '2'], /--cfg-scale has no effect with --mode classifier/],
    ['classifier scale with cfg mode', () => ['--pack', PACK, '--class', '1', '--mode', 'cfg', '--scale', '2'], /--scale .* has no effect with --mode cfg/],
    ['unconditional with cfg', () => ['--pack', PACK, '--class', '1', '--unconditional', '--cfg-scale', '2'], /--unconditional contradicts --mode cfg/],
    ['bad interval', () => ['--pack', PACK, '--class', '1', '--cfg-scale', '2', '--guidance-interval', '800,200'], /--guidance-interval must be two whole timesteps/],
    ['interval not numbers', () => ['--pack', PACK, '--class', '1', '--guidance-interval', 'late'], /--guidance-interval must be/],
    ['pack without a null label', () => ['--pack', noUncond(), '--class', '1', '--mode', 'both'], /has no unconditionalLabel, so it cannot use classifier-free guidance/],
  ] as [string, () => string[], RegExp][])('%s: exit 2, one line, nothing written', (_, args, message) => {
    const out = join(tmp, 'must-not-exist.png');
    const r = runTool('sample', [...args(), '--out', out]);
    expectRefused(r, 'sample', message, [out]);
  });
});
