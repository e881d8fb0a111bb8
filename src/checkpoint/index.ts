// Public surface of the checkpoint reader: a restricted, range-reading reader of torch.save files
// (pure TypeScript; runs in the worker and in Node). `indexCheckpoint` reads the zip directory, the
// local headers and data.pkl (never the tensors) and returns the state dict's tensors with the byte
// range of each; `readTensor` reads one tensor's bytes. Rules: docs/security.md, "Checkpoint reader".
import { checkNames, torchArchive } from './archive';
import { crc32 } from './crc32';
import { damaged, named } from './errors';
import { DEFAULT_LIMITS, type ReaderLimits } from './limits';
import { unpickle } from './pickle';
import { countingSource, readRange, type ByteSource } from './source';
import { stateDictEntries, type TensorEntry, type Wrapper } from './stateDict';
import { torchHost } from './torch';
import { checkNesting } from './values';
import { locateEntries, readCentralDirectory } from './zip';

export { CheckpointError, UnsafeCheckpointError } from './errors';
export { DEFAULT_LIMITS, type ReaderLimits } from './limits';
export { blobSource, bytesSource, countingSource, type ByteSource, type CountingSource } from './source';
export { DTYPE_BYTES, type TorchDtype } from './torch';
export { WRAPPER_KEYS, type TensorEntry, type Wrapper } from './stateDict';
export { crc32 } from './crc32';

export interface CheckpointIndex {
  /** The name given to indexCheckpoint (used in every message). */
  readonly fileName: string;
  readonly fileSize: number;
  /** The archive's top-level folder. */
  readonly folder: string;
  /** Where the state dict was found: at the top (null) or under 'state_dict' / 'model'. */
  readonly wrapper: Wrapper | null;
  /** 'module.' when every key carried that prefix (DataParallel) and it was dropped. */
  readonly strippedPrefix: 'module.' | null;
  /** The state dict's tensors, in the file's key order. */
  readonly tensors: readonly TensorEntry[];
  /** Bytes this index read from the source (the zip directory, local headers and data.pkl). */
  readonly bytesRead: number;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
// The first pickle of a legacy (pre-1.6) torch.save stream: LONG1 of torch's magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

function startsWith(bytes: Uint8Array, sig: readonly number[], at = 0): boolean {
  return sig.every((b, i) => bytes[at + i] === b);
}

function checkKind(head: Uint8Array): void {
  if (startsWith(head, ZIP_MAGIC)) return;
  if (head[0] === 0x80 && (startsWith(head, LEGACY_MAGIC, 2) || startsWith(head, LEGACY_MAGIC, 11))) {
    throw damaged('it is a legacy torch.save file (written by PyTorch before 1.6), which the page does not read; convert it '
      + 'once with npm run convert, or re-save it with PyTorch 1.6 or newer (torch.save(torch.load(path, weights_only=True), new_path))');
  }
  if (head[0] === 0x80) throw damaged('it is a bare Python pickle, not a file written by torch.save');
  throw damaged('it is neither a zip archive written by torch.save nor a legacy torch.save pickle (wrong kind of file?)');
}

/**
 * Reads the structure of a torch.save checkpoint from `source` without reading its tensors.
 * Throws CheckpointError (damaged, unreadable or unmappable files) or UnsafeCheckpointError
 * (code, TorchScript, foreign or compressed entries); both name `fileName` in a one-line message.
 */
export async function indexCheckpoint(source: ByteSource, fileName: string, limits: Partial<ReaderLimits> = {}): Promise<CheckpointIndex> {
  const lim: ReaderLimits = { ...DEFAULT_LIMITS, ...limits };
  const src = countingSource(source);
  try {
    if (src.size === 0) throw damaged('the file is empty (0 bytes)');
    checkKind(await readRange(src, 0, Math.min(src.size, 32), 'the start of the file'));
    const cd = await readCentralDirectory(src, lim.maxEntries);
    checkNames(cd.entries); // TorchScript and foreign archives are named as such before anything else is said
    const archive = torchArchive(await locateEntries(src, cd));
    const byteorder = archive.records.get('byteorder');
    if (byteorder) {
      const text = byteorder.size <= 16 ? new TextDecoder().decode(await readRecord(src, byteorder.dataOffset, byteorder.size, byteorder.crc32, 'byteorder')) : '';
      if (text !== 'little') throw damaged(`its byteorder record says ${JSON.stringify(text.slice(0, 16))}; only little-endian files (every PC and Mac) can be read`);
    }
    const pkl = archive.records.get('data.pkl')!;
    if (pkl.size > lim.maxPickleBytes) {
      throw damaged(`its data.pkl is ${pkl.size} bytes, more than the ${lim.maxPickleBytes} bytes a checkpoint's pickle could need`);
    }
    const data = await readRecord(src, pkl.dataOffset, pkl.size, pkl.crc32, 'data.pkl');
    const root = unpickle(data, torchHost({ records: archive.records, fileSize: src.size }));
    checkNesting(root, lim.maxDepth);
    const view = stateDictEntries(root);
    return { fileName, fileSize: src.size, folder: archive.folder, ...view, bytesRead: src.stats.bytes };
  } catch (e) {
    throw named(fileName, e);
  }
}

async function readRecord(src: ByteSource, offset: number, length: number, crc: number, what: string): Promise<Uint8Array> {
  const bytes = await readRange(src, offset, length, what);
  if (crc32(bytes) !== crc) throw damaged(`its ${what} record fails its checksum (corrupt or altered download?)`);
  return bytes;
}

export interface ReadTensorOptions {
  /** Check the record's CRC-32 (default true; about 1 GB/s). */
  verify?: boolean;
}

/** One tensor's raw little-endian bytes, exactly as torch wrote them. */
export async function readTensor(source: ByteSource, index: CheckpointIndex, tensor: TensorEntry, options: ReadTensorOptions = {}): Promise<Uint8Array> {
  try {
    if (source.size !== index.fileSize) throw damaged(`the file changed size since it was indexed (${index.fileSize} → ${source.size} bytes)`);
    const what = `${tensor.record} (${JSON.stringify(tensor.key)})`;
    return options.verify === false
      ? await readRange(source, tensor.byteOffset, tensor.byteLength, what)
      : await readRecord(source, tensor.byteOffset, tensor.byteLength, tensor.crc32, what);
  } catch (e) {
    throw named(index.fileName, e);
  }
}
