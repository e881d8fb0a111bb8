// `npm run sample` against hostile packs (tools/lib/pack.ts): a graph that names an external-data file
// the manifest does not list, listed files that are symbolic links out of the pack, a FIFO, manifests
// that are links, nested 100k deep, too large or hold 1e309. Each: exit 2, one line, nothing written,
// and no outside file opened; a listed external-data file inside the pack still works (from memory).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withExternalInitializer } from '../../fixtures/onnxPayloads';
import { ROOT, runTool } from './run';

const PACK = join(ROOT, 'tests/fixtures/cli-pack');
const tmp = mkdtempSync(join(tmpdir(), 'hostile-pack-'));
const outside = join(tmp, 'outside');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
type Manifest = Record<string, Record<string, unknown>>;

/** A copy of the fake-network pack changed by `edit`; the manifest `m` is written back unless `edit` wrote its own. */
function pack(name: string, edit: (dir: string, m: Manifest) => void): string {
  const dir = join(tmp, name);
  cpSync(PACK, dir, { recursive: true });
  const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
  const m = JSON.parse(text) as Manifest;
  edit(dir, m);
  const path = join(dir, 'manifest.json');
  if (!lstatSync(path).isSymbolicLink() && readFileSync(path, 'utf8') === text) writeFileSync(path, JSON.stringify(m));
  return dir;
}

/** The U-Net graph with one more weight read from `location` (16 bytes), its entry updated to match. */
function externalUnet(dir: string, m: Manifest, location: string, listed: boolean): void {
  const graph = withExternalInitializer(readFileSync(join(dir, 'unet.onnx')), location);
  writeFileSync(join(dir, 'unet.onnx'), graph);
  const data = new Uint8Array(Float32Array.of(7, 7, 7, 7).buffer);
  writeFileSync(join(dir, location), data);
  Object.assign(m.unet, { bytes: graph.length, sha256: sha(graph) });
  if (listed) m.unet.externalData = [{ file: location, bytes: data.length, sha256: sha(data) }];
}

/** Moves `file` out of the pack and leaves a symbolic link to it (same bytes: only the link is wrong). */
function linkOut(dir: string, file: string): void {
  rmSync(outside, { recursive: true, force: true });
  execFileSync('mkdir', ['-p', outside]);
  renameSync(join(dir, file), join(outside, file));
  symlinkSync(join(outside, file), join(dir, file));
}

function sample(dir: string) {
  const out = join(tmp, 'out.png');
  rmSync(out, { force: true });
  const r = runTool('sample', ['--pack', dir, '--class', '1', '--batch', '1', '--respacing', '2', '--out', out]);
  return { ...r, wrote: existsSync(out) };
}

describe('tools/sample.ts reads only what the manifest lists, checked', () => {
  it('a listed external-data file inside the pack is used (from memory)', () => {
    const r = sample(pack('listed', (d, m) => externalUnet(d, m, 'w.data', true)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.wrote).toBe(true);
  });

  const refused: [string, () => string, RegExp][] = [
    ['an unlisted external-data file in the pack', () => pack('unlisted', (d, m) => externalUnet(d, m, 'evil.data', false)),
      /unet\.onnx: tensor "extra_weight" takes its data from "evil\.data", which is not one of this graph's external-data files in the manifest \(none\)/],
    ['an external-data path out of the pack', () => pack('path', (d, m) => externalUnet(d, m, '../evil.data', false)),
      /takes its data from "\.\.\/evil\.data"/],
    ['a listed external-data file that links out', () => pack('datalink', (d, m) => {
      externalUnet(d, m, 'w.data', true);
      linkOut(d, 'w.data');
    }), /w\.data is a symbolic link/],
    ['a graph file that links out', () => pack('graphlink', (d) => linkOut(d, 'unet.onnx')), /unet\.onnx is a symbolic link/],
    ['a manifest that links out', () => pack('manifestlink', (d) => linkOut(d, 'manifest.json')), /manifest\.json is a symbolic link/],
    ['a FIFO in place of a graph', () => pack('fifo', (d) => {
      unlinkSync(join(d, 'classifier_grad.onnx'));
      execFileSync('mkfifo', [join(d, 'classifier_grad.onnx')]);
    }), /classifier_grad\.onnx is not a regular file/],
    ['a manifest nested 100k deep', () => pack('deep', (d) => {
      const n = 100_000;
      writeFileSync(join(d, 'manifest.json'), `{"schemaVersion":1,"classCond":true,"labels":${'['.repeat(n)}${']'.repeat(n)}}`);
      unlinkSync(join(d, 'unet.onnx'));
    }), /manifest\.json nests arrays or objects more than 64 deep/],
    ['a manifest over 64 MiB', () => pack('huge', (d) => {
      writeFileSync(join(d, 'manifest.json'), Buffer.alloc(64 * 1024 * 1024 + 1, 0x20));
    }), /manifest\.json has 67108865 bytes, more than the 67108864 allowed/],
    ['1e309 as a scale', () => pack('inf', (d, m) => {
      writeFileSync(join(d, 'manifest.json'), JSON.stringify(m).replace(/"classifierScale":[0-9.]+/, '"classifierScale":1e309'));
      unlinkSync(join(d, 'unet.onnx'));
    }), /manifest\.sampling\.classifierScale must be a finite number \(got Infinity \(the number is too large for a 64-bit float\)\)/],
  ];

  it.each(refused)('%s: exit 2, one line, nothing written', (_what, make, message) => {
    const r = sample(make());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(r.wrote).toBe(false);
  });
});
