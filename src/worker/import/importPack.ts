// Released checkpoints -> a stored pack, in the worker (docs/pack-format.md, "Filling a template"): each file
// indexed (src/checkpoint) and recognised (./recognise), each chosen template graph stored as it is, each of its
// external-data files filled tensor by tensor into one buffer, hashed and stored, then the manifest recorded:
// where the buffer is shared memory (a cross-origin isolated page) the pack worker's hashing thread hashes it
// in place as the fill proceeds (told after each tensor how far it is filled), else it is hashed inline after
// the fill;
// the pack is then a stored pack like a downloaded one (picker, Cached packs, Delete). One data file (at most
// 1 GiB) and one tensor are in memory at a time.
import { CheckpointError, indexCheckpoint, readTensor, type ByteSource } from '../../checkpoint';
import { fillDataFile } from '../../checkpoint/fill';
import { named } from '../../checkpoint/errors';
import type { TemplateGraph } from '../../checkpoint/templates';
import { type PackManifest } from '../../shared/manifest';
import { parseManifest, ManifestError } from '../../shared/manifestCheck';
import type { ImportPhase, ImportTimings } from '../../shared/protocol';
import { isShared, type HashPool } from '../storage/hasher';
import { allocBytes } from '../storage/fileBuffer';
import type { PackStore } from '../storage/packStore';
import type { FileSpec, StoredFile } from '../storage/storedFile';
import { assignSlots, recognise, type Recognised } from './recognise';
import { createSHA256 } from 'hash-wasm';
import { Sha256 } from '../storage/sha256';
import type { TemplateSource } from './templateSource';

export interface ImportFile {
  name: string;
  source: ByteSource;
}

export interface ImportOptions {
  /** Also build the U-Net's fp16 graph (the adapter has shader-f16). */
  fp16: boolean;
  /** The hashing thread that hashes each data file while it is filled (null or absent: hash inline after the fill). */
  hashers?: HashPool | null;
  /** The app's base URL: imported packs live at `<base>checkpoint-packs/<name>/` (never fetched: storage only). */
  appBase: string;
  onRecognised?: (files: Recognised[]) => void;
  onProgress?: (phase: ImportPhase, file: string, loaded: number, total: number) => void;
}

export interface ImportResult {
  packUrl: string;
  manifest: PackManifest;
  timings: ImportTimings;
}

/** The folder every imported pack's URL is under (see isImportedPackUrl). */
export const IMPORTED_DIR = 'checkpoint-packs/';
const STORE_CHUNK = 16 << 20;

/** An imported pack: made in this browser from checkpoint files; it exists only in storage. */
export function isImportedPackUrl(packUrl: string): boolean {
  return /\/checkpoint-packs\/[\w-]+\/$/.test(new URL(packUrl).pathname);
}

/**
 * SHA-256 of a filled data file in pieces (hash-wasm): WebCrypto's digest() would first copy the whole
 * buffer, doubling the import's peak memory for a 1 GiB file.
 */
async function chunkedSha256(bytes: Uint8Array): Promise<string> {
  const h = await createSHA256();
  h.init();
  for (let at = 0; at < bytes.length; at += STORE_CHUNK) h.update(bytes.subarray(at, Math.min(bytes.length, at + STORE_CHUNK)));
  return h.digest('hex');
}

export async function importCheckpoints(files: readonly ImportFile[], templates: TemplateSource, store: PackStore, opts: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const timings: ImportTimings = { indexMs: 0, readMs: 0, fillMs: 0, hashMs: 0, hashWaitMs: 0, downloadMs: 0, storeMs: 0, totalMs: 0, weightBytes: 0, largestBuffer: 0 };
  if (files.length === 0) throw new Error('no checkpoint files were given');
  const recognised: Recognised[] = [];
  for (const f of files) {
    const t = performance.now();
    const index = await indexCheckpoint(f.source, f.name);
    timings.indexMs += performance.now() - t;
    recognised.push(await recognise(index, templates));
  }
  opts.onRecognised?.(recognised);
  const slots = assignSlots(recognised);
  const sources = new Map(files.map((f, i) => [recognised[i], f.source]));

  const open: StoredFile[] = [];
  const parts: FileSpec[] = [];
  const clock = (phase: 'store' | 'read', ms: number) => void (timings[phase === 'store' ? 'storeMs' : 'readMs'] += ms);
  /** Stores `bytes` as `spec` unless an identical file is stored already; the file stays open until the record exists. */
  const put = async (spec: FileSpec, bytes: Uint8Array) => {
    const file = await store.openFile(spec, clock);
    open.push(file);
    parts.push(spec);
    if (file.complete) return;
    if (file.offset > 0) await file.reset();
    for (let at = 0; at < bytes.length; at += STORE_CHUNK) {
      await file.append(bytes.subarray(at, Math.min(bytes.length, at + STORE_CHUNK)));
      opts.onProgress?.('storing', spec.file, at, bytes.length);
    }
    if (!(await file.finish(spec.sha256))) throw new Error(`${spec.file}: stored bytes do not match their digest`);
  };
  const addGraph = async (r: Recognised, g: TemplateGraph) => {
    const source = sources.get(r)!;
    const tensors = new Map(r.index.tensors.map((t) => [t.key, t]));
    if (r.entry.files[g.file]?.sha256 !== g.sha256) throw new Error(`${r.entry.dir}/template.json and templates/index.json disagree about ${g.file} (reload the page)`);
    const graph = await templates.graphBytes(r.entry, g.file);
    await put({ file: g.file, bytes: g.bytes, sha256: g.sha256 }, graph);
    const externalData: FileSpec[] = [];
    for (const plan of g.externalData) {
      const buf = allocBytes(plan.bytes, plan.file, !!opts.hashers) as Uint8Array<ArrayBuffer>;
      timings.largestBuffer = Math.max(timings.largestBuffer, plan.bytes);
      // Shared memory: the thread hashes each filled stretch while the next tensors are read and filled.
      const hasher = opts.hashers && isShared(buf) ? opts.hashers.create(buf) : null;
      let sha256: string;
      try {
        try {
          await fillDataFile(plan, tensors, (t) => readTensor(source, r.index, t), buf,
            (done) => {
              hasher?.advance(done);
              opts.onProgress?.('filling', `${r.fileName} → ${plan.file}`, done, plan.bytes);
            },
            { read: (ms) => (timings.readMs += ms), fill: (ms) => (timings.fillMs += ms) });
        } catch (e) {
          if (e instanceof CheckpointError) throw e;
          throw named(r.fileName, e);
        }
        const t = performance.now();
        if (hasher) {
          hasher.advance(plan.bytes); // the zeros after the last tensor
          sha256 = await hasher.digestHex();
          timings.hashMs += hasher.busyMs;
        } else {
          sha256 = await chunkedSha256(buf);
          timings.hashMs += performance.now() - t;
        }
        timings.hashWaitMs += performance.now() - t;
      } catch (e) {
        hasher?.dispose();
        throw e;
      }
      const spec = { file: plan.file, bytes: plan.bytes, sha256 };
      await put(spec, buf);
      timings.weightBytes += plan.bytes;
      externalData.push(spec);
    }
    const entry: Record<string, unknown> = { file: g.file, dtype: g.dtype, bytes: g.bytes, sha256: g.sha256, inputs: g.inputs, outputs: g.outputs, externalData };
    return entry;
  };
  const graphOf = (r: Recognised, dtype: 'float32' | 'float16') => {
    const g = r.template.graphs.find((x) => x.dtype === dtype);
    if (!g) throw new Error(`the ${r.template.slot} template ${r.entry.dir} has no ${dtype} graph`);
    return g;
  };

  try {
    const entries: Record<string, unknown> = { unet: await addGraph(slots.unet, graphOf(slots.unet, 'float32')) };
    if (opts.fp16) entries.unetFp16 = await addGraph(slots.unet, graphOf(slots.unet, 'float16'));
    if (slots.classifier) entries.classifierGrad = await addGraph(slots.classifier, graphOf(slots.classifier, 'float32'));
    if (slots.upsampler) {
      const up = slots.upsampler;
      entries.upsampler = { ...(await addGraph(up, graphOf(up, 'float32'))), ...(up.template.manifest.upsampler as object) };
    }
    const { schemaVersion, license, ...fields } = slots.unet.template.manifest;
    const used = [slots.unet, slots.classifier, slots.upsampler].filter((r): r is Recognised => r !== null);
    const id = new Sha256().update(new TextEncoder().encode(parts.map((p) => p.sha256).join('\n'))).digestHex().slice(0, 12);
    const name = `${slots.unet.entry.stem ?? 'unet'}-${id}`.replace(/[^\w-]/g, '_');
    let manifest: PackManifest;
    try {
      manifest = parseManifest({
        schemaVersion, name, title: `${used.map((r) => r.fileName).join(' + ')} (your files)`, ...fields, ...entries,
        source: `built in this browser from ${used.map((r) => `${r.fileName} (${r.template.title})`).join(', ')}`, license,
      });
    } catch (e) {
      if (e instanceof ManifestError) throw new Error(`the pack built from ${slots.unet.fileName} is invalid: ${e.message}`, { cause: e });
      throw e;
    }
    const packUrl = new URL(`${IMPORTED_DIR}${name}/`, opts.appBase).href;
    const t = performance.now();
    await store.putRecord(packUrl, manifest, parts);
    timings.storeMs += performance.now() - t;
    timings.totalMs = performance.now() - t0;
    return { packUrl, manifest, timings };
  } finally {
    for (const f of open) f.close();
  }
}
