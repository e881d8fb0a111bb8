// Loading a model pack from disk: manifest validation (src/shared/manifest.ts) and an integrity
// check (byte size + sha256) of every ONNX file the run will use, before any work is done.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ManifestError, parseManifest, type GraphFile, type PackManifest } from '../../src/shared/manifest';
import { CliError } from './cli';

export interface LoadedPack {
  dir: string;
  manifest: PackManifest;
  /** Absolute path of the U-Net graph to run (the fp16 one when requested and present). */
  unetPath: string;
  unet: GraphFile;
  /** Absolute path of the classifier-gradient graph, null when the pack has none. */
  classifierGradPath: string | null;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function verify(dir: string, g: GraphFile, what: string): Promise<string> {
  const path = join(dir, g.file);
  if (!existsSync(path) || !statSync(path).isFile()) throw new CliError(`invalid pack ${dir}: ${what} file ${g.file} is missing`);
  const size = statSync(path).size;
  if (size !== g.bytes) throw new CliError(`invalid pack ${dir}: ${g.file} has ${size} bytes, manifest says ${g.bytes}`);
  const sha = await sha256File(path);
  if (sha !== g.sha256) throw new CliError(`invalid pack ${dir}: sha256 mismatch for ${g.file} (file ${sha}, manifest ${g.sha256})`);
  return path;
}

/** Reads and checks a pack folder; every problem is a CliError with a one-line message. */
export async function loadPack(dirArg: string, opts: { fp16?: boolean; needClassifier?: boolean } = {}): Promise<LoadedPack> {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`pack folder ${dirArg} does not exist`);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new CliError(`invalid pack ${dirArg}: no manifest.json`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new CliError(`invalid pack ${dirArg}: manifest.json is not valid JSON (${(e as Error).message})`);
  }
  let manifest: PackManifest;
  try {
    manifest = parseManifest(json);
  } catch (e) {
    if (e instanceof ManifestError) throw new CliError(`invalid pack ${dirArg}: ${e.message}`);
    throw e;
  }
  let unet = manifest.unet;
  if (opts.fp16) {
    if (!manifest.unetFp16) throw new CliError(`pack ${manifest.name} has no fp16 U-Net (unetFp16)`);
    unet = manifest.unetFp16;
  }
  const unetPath = await verify(dir, unet, 'U-Net');
  const classifierGradPath = manifest.classifierGrad && opts.needClassifier !== false
    ? await verify(dir, manifest.classifierGrad, 'classifier gradient')
    : null;
  return { dir, manifest, unetPath, unet, classifierGradPath };
}
