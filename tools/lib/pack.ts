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
  /** Absolute path of the upsampler graph (the cascade's second stage), null when absent or not wanted. */
  upsamplerPath: string | null;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function verifyFile(dir: string, f: { file: string; bytes: number; sha256: string }, what: string): Promise<string> {
  const path = join(dir, f.file);
  if (!existsSync(path) || !statSync(path).isFile()) throw new CliError(`invalid pack ${dir}: ${what} file ${f.file} is missing`);
  const size = statSync(path).size;
  if (size !== f.bytes) throw new CliError(`invalid pack ${dir}: ${f.file} has ${size} bytes, manifest says ${f.bytes}`);
  const sha = await sha256File(path);
  if (sha !== f.sha256) throw new CliError(`invalid pack ${dir}: sha256 mismatch for ${f.file} (file ${sha}, manifest ${f.sha256})`);
  return path;
}

/** The graph file and its external-data files (onnxruntime-node finds those beside the graph). */
async function verify(dir: string, g: GraphFile, what: string): Promise<string> {
  for (const e of g.externalData ?? []) await verifyFile(dir, e, `${what} external-data`);
  return verifyFile(dir, g, what);
}

/** Reads and checks a pack folder; every problem is a CliError with a one-line message. */
export async function loadPack(
  dirArg: string, opts: { fp16?: boolean; needClassifier?: boolean; upsampler?: boolean } = {},
): Promise<LoadedPack> {
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
  const upsamplerPath = manifest.upsampler && opts.upsampler !== false
    ? await verify(dir, manifest.upsampler, 'upsampler')
    : null;
  return { dir, manifest, unetPath, unet, classifierGradPath, upsamplerPath };
}
