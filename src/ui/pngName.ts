// The file name Save PNG gives an image: made from the params of the run that painted it, never
// from the controls (which may already say something else).
import type { GenerateParams } from '../shared/protocol';
import { shortName } from './data/classes';

export function pngFileName(p: GenerateParams): string {
  const mode = p.guidanceMode ?? 'classifier';
  const w = p.cfgScale ?? 0;
  const guidance = mode === 'classifier' ? `s${p.classifierScale}` : mode === 'cfg' ? `w${w}` : `s${p.classifierScale}-w${w}`;
  return `${shortName(p.imagenetClass).replace(/\W+/g, '_')}-${guidance}-${p.sampler}${p.steps}-seed${p.seed}.png`;
}
