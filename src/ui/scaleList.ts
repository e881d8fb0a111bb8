// Comma lists of guidance scales ("0, 1, 2, 4, 8, 16"): one parser for the URL and the text fields,
// so both accept exactly the same lists.
import { inRange } from '../shared/scales';

export type ListParse = { ok: true; value: number[] } | { ok: false; why: string };

const NUMBER = /^\d+(\.\d+)?(e[-+]?\d+)?$/i;

/** Numbers in [min, max], `count.min` to `count.max` of them, separated by commas (spaces allowed). */
export function parseScaleList(raw: string, range: { min: number; max: number }, count: { min: number; max: number }): ListParse {
  const parts = raw.split(',').map((p) => p.trim());
  const values = parts.map((p) => (NUMBER.test(p) ? Number(p) : NaN));
  const fine = values.every((v) => inRange(v, range, false));
  const size = count.min === count.max ? `${count.min}` : `${count.min} to ${count.max}`;
  if (!fine || values.length < count.min || values.length > count.max) {
    return { ok: false, why: `must be ${size} numbers from ${range.min} to ${range.max}, separated by commas` };
  }
  return { ok: true, value: values };
}

/** "0, 1, 2" (what the text fields show); the URL uses formatScaleList(v, ','). */
export function formatScaleList(values: readonly number[], sep = ', '): string {
  return values.map(String).join(sep);
}
