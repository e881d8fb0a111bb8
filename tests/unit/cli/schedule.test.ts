import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectClose, fixture } from '../diffusion/helpers';
import { ROOT, runTool } from './run';

const golden = fixture<Record<string, { timestepMap: number[]; betas: number[] }>>('respaced.json');
const CASES = (['linear', 'cosine'] as const).flatMap((s) => ['250', '50', 'ddim25', 'ddim50', '10,10,10'].map((r) => [s, r] as const));

describe('tools/schedule.ts', () => {
  it.each(CASES)('%s %s: prints exactly the reference timesteps and respaced betas', (schedule, respacing) => {
    const r = runTool('schedule', ['--noise-schedule', schedule, '--diffusion-steps', '1000', '--respacing', respacing]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { timesteps: number[]; betas: number[] };
    expect(Object.keys(out)).toEqual(['timesteps', 'betas']);
    const g = golden[`${schedule}/${respacing}`];
    expect(out.timesteps).toEqual(g.timestepMap);
    if (schedule === 'linear') {
      // JSON numbers round-trip float64 exactly: linear betas are bit-identical to adm/diffusion.py's.
      expect(out.betas).toEqual(g.betas);
    } else {
      // The cosine schedule goes through Math.cos, which differs from the C library's cos in the
      // last bit for ~4% of arguments (neither is correctly rounded everywhere): ~1e-13 relative.
      expectClose(out.betas, g.betas, 1e-12, 0, 'cosine betas');
    }
  });

  it('works through the npm script', () => {
    const r = spawnSync('npm', ['run', '--silent', 'schedule', '--', '--noise-schedule', 'cosine', '--respacing', 'ddim25'], {
      cwd: ROOT, encoding: 'utf8', timeout: 120_000,
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).timesteps).toEqual(golden['cosine/ddim25'].timestepMap);
  });

  it.each([
    [['--noise-schedule', 'quadratic'], /unknown noise schedule "quadratic"/],
    [['--noise-schedule', 'linear', '--respacing', 'ddim300'], /no integer stride gives exactly 300 steps/],
    [['--noise-schedule', 'linear', '--respacing', '1001'], /cannot keep 1001/],
    [['--noise-schedule', 'linear', '--respacing', '10,x'], /"x" is not a non-negative integer/],
    [['--noise-schedule', 'linear', '--diffusion-steps', 'many'], /--diffusion-steps must be an integer/],
    [['--respacing', '250'], /--noise-schedule is required/],
    [['--noise-schedule', 'linear', '--bogus'], /unknown flag --bogus/],
  ])('bad input %j: exit 2 with one clear line', (args, message) => {
    const r = runTool('schedule', args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^schedule: error: /);
  });
});
