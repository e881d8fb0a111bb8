// Loading a model pack from disk: manifest validation (src/shared/manifest.ts) and an integrity
// check (byte size + sha256) of every ONNX file the run will use, before any work is done.
//
// Only files the manifest lists are read, each opened with O_NOFOLLOW (a symbolic link is refused,
// wherever it points) and O_NONBLOCK (a FIFO cannot stall the open), checked to be a regular file on
// the opened descriptor, read once into memory and hashed there. ONNX Runtime gets those bytes, never
// a path: a graph whose external-data locations are not exactly its listed files is refused, so ORT has
// nothing to open on its own (docs/security.md).
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { JsonLimitError, parseJsonBounded } from '../../src/shared/jsonLimits';
import { MANIFEST_LIMITS, type GraphFile, type PackManifest } from '../../src/shared/manifest';
import { ManifestError, parseManifest } from '../../src/shared/manifestCheck';
import { externalDataProblem } from '../../src/shared/onnxExternal';
import { CliError } from './cli';

/** A graph's checked bytes and those of its external-data files, as ONNX Runtime takes them. */
export interface VerifiedGraph {
  file: string;
  bytes: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
}

export interface LoadedPack {
  dir: string;
  manifest: PackManifest;
  /** The U-Net entry to run (the fp16 one when requested and present). */
  unet: GraphFile;
  /**
   * The checked graphs (null: absent or not wanted). A session is created from these bytes; take
   * them with `takeGraph` so they are not kept for the whole run.
   */
  graphs: { unet: VerifiedGraph | null; classifierGrad: VerifiedGraph | null; upsampler: VerifiedGraph | null };
  hasClassifier: boolean;
  hasUpsampler: boolean;
  /** Where the graph files are, for reports only (nothing opens them by path). */
  unetPath: string;
  classifierGradPath: string | null;
}

/** The graph's bytes (once: the pack forgets them, so they can be freed once ORT has its copy). */
export function takeGraph(pack: LoadedPack, key: keyof LoadedPack['graphs']): VerifiedGraph {
  const g = pack.graphs[key];
  if (!g) throw new Error(`the ${key} graph was not loaded or was already taken`);
  pack.graphs[key] = null;
  return g;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * The whole of `name` inside `dir`, read through one descriptor that follows no link: at most
 * `size.max` bytes, or exactly `size.exact` (the manifest's count) when given.
 */
export function readListedFile(dir: string, name: string, size: { max?: number; exact?: number }, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(join(dir, name), OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`invalid pack ${dir}: ${what} file ${name} is missing`);
    if (code === 'ELOOP') throw new CliError(`invalid pack ${dir}: ${name} is a symbolic link (a pack's files must be regular files inside the pack folder)`);
    throw new CliError(`invalid pack ${dir}: cannot open ${name} (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CliError(`invalid pack ${dir}: ${name} is not a regular file`);
    if (size.exact !== undefined && st.size !== size.exact) throw new CliError(`invalid pack ${dir}: ${name} has ${st.size} bytes, manifest says ${size.exact}`);
    if (size.max !== undefined && st.size > size.max) throw new CliError(`invalid pack ${dir}: ${name} has ${st.size} bytes, more than the ${size.max} allowed`);
    const buf = Buffer.allocUnsafe(st.size);
    let at = 0;
    while (at < st.size) {
      const n = readSync(fd, buf, at, Math.min(st.size - at, 1 << 30), at); // at most 1 GiB per call (Node's limit is 2 GiB)
      if (n <= 0) throw new CliError(`invalid pack ${dir}: ${name} ended after ${at} of ${st.size} bytes while it was read`);
      at += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** A listed file's bytes, after its size and sha256 matched the manifest. */
function verifiedFile(dir: string, f: { file: string; bytes: number; sha256: string }, what: string): Buffer {
  const buf = readListedFile(dir, f.file, { exact: f.bytes }, what);
  const sha = createHash('sha256').update(buf).digest('hex');
  if (sha !== f.sha256) throw new CliError(`invalid pack ${dir}: sha256 mismatch for ${f.file} (file ${sha}, manifest ${f.sha256})`);
  return buf;
}

/** The graph and its external-data files, checked; the graph may name no other external-data file. */
function verifiedGraph(dir: string, g: GraphFile, what: string): VerifiedGraph {
  const externalData = (g.externalData ?? []).map((e) => ({ path: e.file, data: verifiedFile(dir, e, `${what} external-data`) }));
  const bytes = verifiedFile(dir, g, what);
  const problem = externalDataProblem(bytes, g.file, externalData.map((e) => e.path));
  if (problem) throw new CliError(`invalid pack ${dir}: ${problem}`);
  return { file: g.file, bytes, externalData };
}

/** Reads and checks a pack folder; every problem is a CliError with a one-line message. */
export async function loadPack(
  dirArg: string, opts: { fp16?: boolean; needClassifier?: boolean; upsampler?: boolean } = {},
): Promise<LoadedPack> {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`pack folder ${dirArg} does not exist`);
  if (!existsSync(join(dir, 'manifest.json'))) throw new CliError(`invalid pack ${dirArg}: no manifest.json`);
  const text = readListedFile(dir, 'manifest.json', { max: MANIFEST_LIMITS.maxManifestBytes }, 'manifest').toString('utf8');
  let manifest: PackManifest;
  try {
    manifest = parseManifest(parseJsonBounded(text, MANIFEST_LIMITS.maxJsonDepth));
  } catch (e) {
    if (e instanceof JsonLimitError) throw new CliError(`invalid pack ${dirArg}: manifest.json ${e.message.replace(/^it /, '')}`);
    if (e instanceof ManifestError) throw new CliError(`invalid pack ${dirArg}: ${e.message}`);
    throw e;
  }
  let unet = manifest.unet;
  if (opts.fp16) {
    if (!manifest.unetFp16) throw new CliError(`pack ${manifest.name} has no fp16 U-Net (unetFp16)`);
    unet = manifest.unetFp16;
  }
  const classifierGrad = manifest.classifierGrad && opts.needClassifier !== false ? manifest.classifierGrad : null;
  const upsampler = manifest.upsampler && opts.upsampler !== false ? manifest.upsampler : null;
  const graphs = {
    unet: verifiedGraph(dir, unet, 'U-Net'),
    classifierGrad: classifierGrad ? verifiedGraph(dir, classifierGrad, 'classifier gradient') : null,
    upsampler: upsampler ? verifiedGraph(dir, upsampler, 'upsampler') : null,
  };
  return {
    dir, manifest, unet, graphs, hasClassifier: classifierGrad !== null, hasUpsampler: upsampler !== null,
    unetPath: join(dir, unet.file), classifierGradPath: classifierGrad ? join(dir, classifierGrad.file) : null,
  };
}
