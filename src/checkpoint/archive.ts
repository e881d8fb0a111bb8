// The layout of a plain torch.save archive (the same rules as adm/checkpoint_io.py): every entry in
// one top-level folder, and below it only data.pkl, data/<key> storage records and the small
// version/byteorder records. TorchScript and torch.package archives, which carry code, are refused
// from their entry names alone.
import { damaged, listSome, quoted, unsafe } from './errors';
import type { ZipEntry } from './zip';

const PLAIN_RECORD = /^(?:data\.pkl|version|byteorder|\.format_version|\.storage_alignment|\.data\/version|\.data\/serialization_id|data\/[A-Za-z0-9_]+)$/;
const SCRIPT_RECORD = /^(?:constants\.pkl|attributes\.pkl|model\.json|code\/.*|extra\/.*|tensors\/.*|\.data\/.*\.py|.*\.py|.*\.debug_pkl|\.data\/extern_modules)$/;

export interface TorchArchive {
  /** The top-level folder (torch names it after the file, or "archive"). */
  readonly folder: string;
  /** Entries by their name below the folder: "data.pkl", "data/0", "version", ... */
  readonly records: ReadonlyMap<string, ZipEntry>;
}

/** Refuses archives that are not a plain torch.save from their entry names alone (before any entry is read). */
export function checkNames(entries: readonly { name: string }[]): { folder: string; names: string[] } {
  const folders = new Set(entries.map((e) => (e.name.includes('/') ? e.name.slice(0, e.name.indexOf('/')) : '')));
  if (folders.size !== 1 || folders.has('')) {
    throw unsafe('the zip archive does not keep all its entries in one top-level folder as torch.save does');
  }
  const folder = [...folders][0];
  const names = entries.map((e) => e.name.slice(folder.length + 1));
  const script = [...new Set(names.filter((n) => SCRIPT_RECORD.test(n)))].sort();
  if (script.length) {
    throw unsafe(`it is a TorchScript (torch.jit.save) or torch.package archive (it contains ${listSome(script)}); such `
      + 'archives run their stored code when loaded. Save the weights with torch.save(model.state_dict(), path) instead');
  }
  const other = [...new Set(names.filter((n) => !PLAIN_RECORD.test(n)))].sort();
  if (other.length) {
    throw unsafe(`the zip archive holds ${listSome(other)}, which is not part of a plain torch.save file (data.pkl, data/<n>, version)`);
  }
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (seen.has(names[i])) throw unsafe(`the zip archive lists the entry ${quoted(e.name)} twice`);
    seen.add(names[i]);
  });
  if (!seen.has('data.pkl')) throw damaged('the zip archive has no data.pkl: it is not a file written by torch.save');
  return { folder, names };
}

/** The located entries by their name below the archive folder (checkNames has passed). */
export function torchArchive(entries: readonly ZipEntry[]): TorchArchive {
  const { folder, names } = checkNames(entries);
  return { folder, records: new Map(entries.map((e, i) => [names[i], e])) };
}
