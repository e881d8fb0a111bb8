// Spawns the Node CLIs the way `npm run` does (tsx), without npm's own start-up cost.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
