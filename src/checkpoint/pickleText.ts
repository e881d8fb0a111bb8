// The text arguments of protocol-0 opcodes (INT, LONG, FLOAT, STRING, UNICODE), parsed as Python
// parses them, within bounds. torch.save writes protocol 2, so these matter only for hand-made pickles.
import { damaged } from './errors';

const MAX_DIGITS = 4300; // Python's own limit on int(str) (sys.int_info.str_digits_check_threshold)

/** Python's int(s, 0): sign, 0x/0o/0b prefixes, underscores between digits; beyond 2^53 a bigint. */
export function parsePyInt(raw: string): number | bigint {
  const s = raw.trim();
  if (s.length > MAX_DIGITS + 4) throw damaged(`its pickle holds an absurdly long integer (${s.length} characters)`);
  const m = /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?\d)*)$/.exec(s);
  if (!m) throw damaged(`its pickle holds a malformed integer (${JSON.stringify(s.slice(0, 20))})`);
  const v = BigInt(m[2].replace(/_/g, '')) * (m[1] === '-' ? -1n : 1n);
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** Python's float(s): decimal or exponent notation, inf and nan. */
export function parsePyFloat(raw: string): number {
  const s = raw.trim().toLowerCase();
  if (s.length > MAX_DIGITS) throw damaged(`its pickle holds an absurdly long float (${s.length} characters)`);
  const m = /^([+-]?)(inf|infinity|nan|(?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?(?:e[+-]?\d(?:_?\d)*)?)$/.exec(s);
  if (!m || !/\d|inf|nan/.test(m[2])) throw damaged(`its pickle holds a malformed float (${JSON.stringify(s.slice(0, 20))})`);
  const sign = m[1] === '-' ? -1 : 1;
  if (m[2].startsWith('inf')) return sign * Infinity;
  if (m[2] === 'nan') return NaN;
  return sign * Number(m[2].replace(/_/g, ''));
}

const SIMPLE: Record<string, number> = { '\\': 0x5c, "'": 0x27, '"': 0x22, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** STRING's argument: a quoted Python 2 byte-string literal (codecs.escape_decode of its inside). */
export function decodeEscaped(line: Uint8Array): Uint8Array {
  const q = line[0];
  if (line.length < 2 || (q !== 0x22 && q !== 0x27) || line[line.length - 1] !== q) {
    throw damaged('its pickle has a STRING opcode whose argument is not quoted (corrupt data.pkl)');
  }
  const s = line.subarray(1, line.length - 1);
  const out = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== 0x5c) { out[n++] = s[i]; continue; }
    if (++i >= s.length) throw damaged('its pickle has a STRING ending in a lone backslash (corrupt data.pkl)');
    const c = String.fromCharCode(s[i]);
    if (c in SIMPLE) { out[n++] = SIMPLE[c]; continue; }
    if (c >= '0' && c <= '7') {
      let v = 0;
      let k = 0;
      while (k < 3 && i < s.length && s[i] >= 0x30 && s[i] <= 0x37) { v = v * 8 + s[i] - 0x30; i++; k++; }
      i--;
      out[n++] = v & 0xff;
      continue;
    }
    if (c === 'x') {
      const hex = String.fromCharCode(s[i + 1] ?? 0, s[i + 2] ?? 0);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw damaged('its pickle has a STRING with an invalid \\x escape (corrupt data.pkl)');
      out[n++] = parseInt(hex, 16);
      i += 2;
      continue;
    }
    out[n++] = 0x5c; // unknown escapes keep their backslash, as in Python
    out[n++] = s[i];
  }
  return out.subarray(0, n);
}

/** UNICODE's argument: raw-unicode-escape (bytes are Latin-1 characters; \uXXXX and \UXXXXXXXX escapes). */
export function decodeRawUnicodeEscape(line: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    if (line[i] !== 0x5c) { out += String.fromCharCode(line[i++]); continue; }
    let run = 0;
    while (i < line.length && line[i] === 0x5c) { run++; i++; }
    const u = line[i];
    if (run % 2 === 0 || (u !== 0x75 && u !== 0x55)) { out += '\\'.repeat(run); continue; }
    out += '\\'.repeat(run - 1);
    const len = u === 0x75 ? 4 : 8;
    const hex = String.fromCharCode(...line.subarray(i + 1, i + 1 + len));
    if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) throw damaged('its pickle has a UNICODE string with a truncated \\u escape (corrupt data.pkl)');
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) throw damaged('its pickle has a UNICODE string with an escape beyond U+10FFFF (corrupt data.pkl)');
    out += String.fromCodePoint(cp);
    i += 1 + len;
  }
  return out;
}
