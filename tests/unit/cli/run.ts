// Spawns the Node CLIs the way `npm run` does (tsx), without npm's own start-up cost.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(tool: 'schedule' | 'sample', args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `tools/${tool}.ts`, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A refusal as every CLI here gives one: exit 2, nothing on stdout, one `TOOL: error:` line matching `message`, none of `unwritten` written. */
export function expectRefused(r: CliResult, tool: string, message: RegExp, unwritten: string[] = []): void {
  expect(r.stderr).toMatch(new RegExp(`^${tool}: error: `));
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  for (const path of unwritten) expect(existsSync(path), `${path} was written`).toBe(false);
}
