// The 1000 ImageNet-1k class names in label order (public label metadata, converted once from
// the ILSVRC-2012 class list). Index = ImageNet label = what manifest.labels refers to.
import names from './imagenet-classes.json';

export const IMAGENET_CLASSES: readonly string[] = names;

/** The first synonym, e.g. "tench" for "tench, Tinca tinca". */
export function shortName(index: number): string {
  const full = IMAGENET_CLASSES[index];
  return full === undefined ? `class ${index}` : full.split(',')[0].trim();
}

export interface ClassMatch {
  index: number;
  name: string;
  inPack: boolean;
}

/**
 * Classes whose names contain every word of `query` (case-insensitive), or whose index equals it.
 * Classes the pack knows come first, then by how early the match is; at most `limit` results.
 */
export function searchClasses(query: string, known: ReadonlySet<number>, limit = 50): ClassMatch[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const asIndex = /^\d+$/.test(query.trim()) ? Number(query.trim()) : -1;
  const scored: { m: ClassMatch; score: number }[] = [];
  IMAGENET_CLASSES.forEach((full, index) => {
    const lower = full.toLowerCase();
    const hit = index === asIndex || words.every((w) => lower.includes(w));
    if (!hit) return;
    const pos = words.length ? lower.indexOf(words[0]) : 0;
    const inPack = known.has(index);
    scored.push({ m: { index, name: full, inPack }, score: (inPack ? 0 : 1e6) + (index === asIndex ? -1 : pos) * 1000 + index });
  });
  scored.sort((a, b) => a.score - b.score);
  return scored.slice(0, limit).map((s) => s.m);
}
