// The zip container of a torch.save file, read by byte ranges: the end records, the central directory
// and each entry's local header, never the entries' data. Only what torch.save writes is accepted:
// one disk, STORED (uncompressed, unencrypted) entries, Zip64 end records and extra fields, entries
// that neither overlap each other nor the central directory. Deflate is refused outright, which also
// rules out zip bombs; overlapping entries (the other zip-bomb trick) are refused too.
import { damaged, quoted, unsafe } from './errors';
import { readRange, type ByteSource } from './source';

export interface ZipEntry {
  /** Full entry name, e.g. "archive/data/0". */
  readonly name: string;
  /** Absolute offset of the entry's first data byte (after its local header). */
  readonly dataOffset: number;
  /** Data length in bytes (stored, so compressed size = size). */
  readonly size: number;
  /** CRC-32 of the data from the central directory. */
  readonly crc32: number;
  /** Absolute offset of the local header. */
  readonly headerOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_LEN = 22;
const LOCATOR_LEN = 20;
const ZIP64_EOCD_LEN = 56;
const CENTRAL_LEN = 46;
const LOCAL_LEN = 30;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const HEADER_BATCH = 64;
const MAX_DIRECTORY_BYTES = 64 * 2 ** 20; // a torch.save directory takes about 80 bytes per entry

function u64(view: DataView, at: number, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged(`the zip archive's ${what} is absurdly large (${v})`);
  return Number(v);
}

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

interface EndRecords {
  entries: number;
  cdOffset: number;
  cdSize: number;
  /** Where the central directory must end: the Zip64 end record if there is one, else the end record. */
  cdEnd: number;
  tail: Uint8Array;
  tailStart: number;
}

async function readEndRecords(source: ByteSource): Promise<EndRecords> {
  const size = source.size;
  if (size < EOCD_LEN) throw damaged('it is too short to be a zip archive (truncated download?)');
  const tailLen = Math.min(size, EOCD_LEN + MAX_COMMENT + LOCATOR_LEN + ZIP64_EOCD_LEN);
  const tailStart = size - tailLen;
  const tail = await readRange(source, tailStart, tailLen, 'the end of the zip archive');
  const tv = dataView(tail);
  // The end record is the last signature whose comment runs exactly to the end of the file.
  let at = -1;
  for (let i = tail.length - EOCD_LEN; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_LEN + tv.getUint16(i + 20, true) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw damaged('it starts like a zip archive but has no end record (truncated or corrupt download?)');
  if (tv.getUint16(at + 4, true) !== 0 || tv.getUint16(at + 6, true) !== 0) {
    throw damaged('it is a multi-volume zip archive, which torch.save never writes');
  }
  const entries16 = tv.getUint16(at + 10, true);
  const onDisk16 = tv.getUint16(at + 8, true);
  const cdSize32 = tv.getUint32(at + 12, true);
  const cdOffset32 = tv.getUint32(at + 16, true);
  const eocdPos = tailStart + at;
  const locAt = at - LOCATOR_LEN;
  if (locAt < 0 || tv.getUint32(locAt, true) !== SIG_ZIP64_LOCATOR) {
    if (onDisk16 !== entries16) throw damaged('the zip end record counts its entries twice, differently');
    return { entries: entries16, cdOffset: cdOffset32, cdSize: cdSize32, cdEnd: eocdPos, tail, tailStart };
  }
  // Zip64: torch.save always writes these records; the 32-bit fields must be saturated or agree.
  if (tv.getUint32(locAt + 4, true) !== 0 || tv.getUint32(locAt + 16, true) > 1) {
    throw damaged('its Zip64 locator names another volume, which torch.save never writes');
  }
  const z64Pos = u64(tv, locAt + 8, 'Zip64 end record offset');
  const locPos = tailStart + locAt;
  if (z64Pos + ZIP64_EOCD_LEN > locPos) throw damaged('its Zip64 end record lies outside the file or overlaps the end records');
  const z = z64Pos >= tailStart ? tail.subarray(z64Pos - tailStart, z64Pos - tailStart + ZIP64_EOCD_LEN)
    : await readRange(source, z64Pos, ZIP64_EOCD_LEN, 'the Zip64 end record');
  const zv = dataView(z);
  if (zv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw damaged('its Zip64 locator points at no Zip64 end record (corrupt file?)');
  if (z64Pos + 12 + u64(zv, 4, 'Zip64 end record size') !== locPos) {
    throw damaged('its Zip64 end record does not end where the locator begins (corrupt file?)');
  }
  if (zv.getUint32(16, true) !== 0 || zv.getUint32(20, true) !== 0) throw damaged('its Zip64 end record names another volume');
  const entries = u64(zv, 32, 'entry count');
  const cdSize = u64(zv, 40, 'central directory size');
  const cdOffset = u64(zv, 48, 'central directory offset');
  if (u64(zv, 24, 'entry count') !== entries) throw damaged('the Zip64 end record counts its entries twice, differently');
  const agrees = (short: number, max: number, long: number) => short === max || short === long;
  if (!agrees(entries16, U16_MAX, entries) || !agrees(onDisk16, U16_MAX, entries)
    || !agrees(cdSize32, U32_MAX, cdSize) || !agrees(cdOffset32, U32_MAX, cdOffset)) {
    throw damaged('its zip end record and Zip64 end record disagree (corrupt file?)');
  }
  return { entries, cdOffset, cdSize, cdEnd: z64Pos, tail, tailStart };
}

export interface CentralEntry {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly headerOffset: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly crc32: number;
  readonly method: number;
  readonly flags: number;
}

export interface CentralDirectory {
  readonly entries: readonly CentralEntry[];
  /** Where the central directory starts: every entry must end before it. */
  readonly offset: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Entry names: UTF-8 (torch names the folder after the file) without control characters. */
function entryName(bytes: Uint8Array): string {
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch {
    throw damaged('the zip archive has an entry name that is not valid UTF-8 (corrupt file?)');
  }
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c === 0x7f) throw unsafe('the zip archive has an entry name with control characters, which torch.save never writes');
  }
  return s;
}

function parseCentral(cd: Uint8Array, count: number): CentralEntry[] {
  const v = dataView(cd);
  const out: CentralEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_LEN > cd.length || v.getUint32(p, true) !== SIG_CENTRAL) {
      throw damaged(`the zip central directory is cut short or corrupt at entry ${i + 1} of ${count}`);
    }
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    const crc32 = v.getUint32(p + 16, true);
    let csize = v.getUint32(p + 20, true);
    let usize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let disk = v.getUint16(p + 34, true);
    let headerOffset = v.getUint32(p + 42, true);
    const end = p + CENTRAL_LEN + nameLen + extraLen + commentLen;
    if (end > cd.length) throw damaged(`the zip central directory is cut short at entry ${i + 1} of ${count}`);
    const nameBytes = cd.subarray(p + CENTRAL_LEN, p + CENTRAL_LEN + nameLen);
    const name = entryName(nameBytes);
    // Extra fields: only Zip64's (id 1) means anything here; it holds the saturated fields, in order.
    let x = p + CENTRAL_LEN + nameLen;
    const xEnd = x + extraLen;
    let seen64 = false;
    while (x < xEnd) {
      if (x + 4 > xEnd) throw damaged(`the zip entry ${quoted(name)} has a malformed extra field`);
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (x + 4 + len > xEnd) throw damaged(`the zip entry ${quoted(name)} has a malformed extra field`);
      if (id === 1) {
        if (seen64) throw damaged(`the zip entry ${quoted(name)} has two Zip64 extra fields`);
        seen64 = true;
        let q = x + 4;
        const take = (what: string) => {
          if (q + 8 > x + 4 + len) throw damaged(`the zip entry ${quoted(name)} has a Zip64 extra field without its ${what}`);
          const val = u64(v, q, what);
          q += 8;
          return val;
        };
        if (usize === U32_MAX) usize = take('size');
        if (csize === U32_MAX) csize = take('compressed size');
        if (headerOffset === U32_MAX) headerOffset = take('offset');
        if (disk === U16_MAX) {
          if (q + 4 > x + 4 + len) throw damaged(`the zip entry ${quoted(name)} has a Zip64 extra field without its disk number`);
          disk = v.getUint32(q, true);
        }
      }
      x += 4 + len;
    }
    if (disk !== 0) throw damaged(`the zip entry ${quoted(name)} lies on another volume`);
    out.push({ name, nameBytes, headerOffset, size: usize, compressedSize: csize, crc32, method, flags });
    p = end;
  }
  if (p !== cd.length) throw damaged('the zip central directory is longer than its entries (corrupt file?)');
  return out;
}

/** Entries sorted by position must each end before the next one starts, and all before the central directory. */
function checkDisjoint(spans: { name: string; start: number; end: number }[], limit: number): void {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i];
    const next = i + 1 < sorted.length ? sorted[i + 1] : null;
    if (s.end > limit) {
      throw damaged(`the zip entry ${quoted(s.name)} runs past the central directory or the end of the file (truncated or corrupt download?)`);
    }
    if (next && s.end > next.start) {
      throw unsafe(`the zip entries ${quoted(s.name)} and ${quoted(next.name)} overlap, which torch.save never `
        + 'writes (overlapping entries are a zip-bomb technique)');
    }
  }
}

async function readLocal(source: ByteSource, e: CentralEntry): Promise<ZipEntry> {
  const h = await readRange(source, e.headerOffset, LOCAL_LEN + e.nameBytes.length, `the local header of ${quoted(e.name)}`);
  const v = dataView(h);
  const what = `the zip entry ${quoted(e.name)}`;
  if (v.getUint32(0, true) !== SIG_LOCAL) throw damaged(`${what} has no local header where the central directory says (corrupt file?)`);
  const flags = v.getUint16(6, true);
  if (v.getUint16(8, true) !== e.method || (flags & 1)) {
    throw unsafe(`${what}: its local header and the central directory disagree on how it is stored`);
  }
  if (v.getUint16(26, true) !== e.nameBytes.length || h.subarray(LOCAL_LEN).some((b, i) => b !== e.nameBytes[i])) {
    throw unsafe(`${what}: its local header names a different entry than the central directory does`);
  }
  if (!(flags & 8)) { // without a data descriptor the local header repeats CRC and sizes
    const crc = v.getUint32(14, true);
    const cs = v.getUint32(18, true);
    const us = v.getUint32(22, true);
    const sizeOk = (n: number) => n === e.size || n === U32_MAX;
    if (crc !== e.crc32 || !sizeOk(cs) || !sizeOk(us)) {
      throw unsafe(`${what}: its local header and the central directory disagree on its size or checksum`);
    }
  }
  const dataOffset = e.headerOffset + LOCAL_LEN + e.nameBytes.length + v.getUint16(28, true);
  return { name: e.name, dataOffset, size: e.size, crc32: e.crc32, headerOffset: e.headerOffset };
}

/** The central directory's entries (names, sizes, offsets), read from the end records. */
export async function readCentralDirectory(source: ByteSource, maxEntries: number): Promise<CentralDirectory> {
  const end = await readEndRecords(source);
  if (end.cdOffset + end.cdSize !== end.cdEnd) {
    throw damaged('its zip central directory does not end where the end record begins (data prepended or appended, or a corrupt file)');
  }
  if (end.entries === 0) throw damaged('the zip archive is empty');
  if (end.cdSize > MAX_DIRECTORY_BYTES) throw damaged(`its zip central directory is ${end.cdSize} bytes, more than a checkpoint could need`);
  if (end.entries > maxEntries || end.entries * CENTRAL_LEN > end.cdSize) {
    throw damaged(`the zip archive claims ${end.entries} entries in a ${end.cdSize}-byte central directory`
      + (end.entries > maxEntries ? ` (more than the ${maxEntries} a checkpoint could need)` : ''));
  }
  const cd = end.cdOffset >= end.tailStart
    ? end.tail.subarray(end.cdOffset - end.tailStart, end.cdOffset - end.tailStart + end.cdSize)
    : await readRange(source, end.cdOffset, end.cdSize, 'the zip central directory');
  return { entries: parseCentral(cd, end.entries), offset: end.cdOffset };
}

/**
 * Each entry's data range, from its local header. Refuses compressed and encrypted entries and any two
 * entries that overlap, first by the central directory's numbers alone (a local header is at least 30 +
 * name bytes), so the headers read here never add up to more than the file.
 */
export async function locateEntries(source: ByteSource, cd: CentralDirectory): Promise<ZipEntry[]> {
  for (const e of cd.entries) {
    if (e.flags & 1) throw unsafe(`the zip entry ${quoted(e.name)} is encrypted, which torch.save never does`);
    if (e.method !== 0) {
      throw unsafe(`the zip entry ${quoted(e.name)} is compressed (method ${e.method}); torch.save stores entries `
        + 'uncompressed, and compressed entries are refused so that no file can unpack to more than its size');
    }
    if (e.compressedSize !== e.size) throw damaged(`the stored zip entry ${quoted(e.name)} has two different sizes (${e.compressedSize} and ${e.size})`);
  }
  checkDisjoint(cd.entries.map((e) => ({ name: e.name, start: e.headerOffset, end: e.headerOffset + LOCAL_LEN + e.nameBytes.length + e.size })), cd.offset);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < cd.entries.length; i += HEADER_BATCH) {
    entries.push(...await Promise.all(cd.entries.slice(i, i + HEADER_BATCH).map((e) => readLocal(source, e))));
  }
  checkDisjoint(entries.map((e) => ({ name: e.name, start: e.headerOffset, end: e.dataOffset + e.size })), cd.offset);
  return entries;
}
