// The narrowed checkpoint pair of `npm run fixture -- --convert` (adm/cli/make_fixture.py): random-weight U-Net and
// classifier in the official key format, their templates, and the pack `npm run convert` makes of them; plus the
// fp16 rounding cases with numpy's answers. Made by /usr/bin/python3 once per Vitest run (about 2 minutes).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDir } from './sharedDir';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PYTHON = '/usr/bin/python3';

const ODD = "import sys, torch; sd = torch.load(sys.argv[1]); sd['out.2.bias'] = torch.zeros(5); torch.save(sd, sys.argv[2])";

function python(args: string[]): void {
  const r = spawnSync(PYTHON, args, {
    cwd: ROOT, encoding: 'utf8', timeout: 600_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} ${args.slice(0, 2).join(' ')} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}): `
      + `these tests need PyTorch for ${PYTHON} (npm test installs python3-torch).\n${r.stderr.slice(-2000)}`);
  }
}

/** The fixture folder: unet.pt, classifier.pt, odd.pt, templates/, pack/ (convert's), fixture.json, and fp16.json beside it. */
export async function packFixture(): Promise<{ dir: string; fp16Cases: string }> {
  const adm = join(ROOT, 'adm');
  const h = createHash('sha256');
  for (const f of readdirSync(adm).filter((n) => n.endsWith('.py')).sort()) h.update(f).update(readFileSync(join(adm, f)));
  const root = await sharedDir('gd-ckpt-pack-', h.digest('hex').slice(0, 12), 'fp16.json', (work) => {
    python(['-m', 'adm.cli.make_fixture', '--out', join(work, 'fixture'), '--convert']);
    // odd.pt: the U-Net with one tensor of another shape (a file that matches no template)
    python(['-c', ODD, join(work, 'fixture', 'unet.pt'), join(work, 'fixture', 'odd.pt')]);
    python(['-m', 'adm.cli.make_fixture', '--fp16-cases', join(work, 'fp16.json')]);
  }, 900_000);
  return { dir: join(root, 'fixture'), fp16Cases: join(root, 'fp16.json') };
}
