// Which network a checkpoint holds: its keys, dtypes and shapes against the templates. A file whose key list
// hashes to an index entry's keysSha256 is checked against that template; otherwise every template is compared
// (order-insensitive), and a file that matches none is refused naming the first difference from the nearest.
import type { CheckpointIndex } from '../../checkpoint';
import { firstDifference, keysText, parameterText, similarity, type Template, type TemplateIndexEntry, type TemplateSlot } from '../../checkpoint/templates';
import { Sha256 } from '../storage/sha256';
import type { TemplateSource } from './templateSource';

export interface Recognised {
  fileName: string;
  index: CheckpointIndex;
  entry: TemplateIndexEntry;
  template: Template;
  slot: TemplateSlot;
  /** "64x64_diffusion.pt: ImageNet 64×64 class-conditional U-Net, 296M parameters". */
  description: string;
}

export class RecogniseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecogniseError';
  }
}

const SLOT_NAMES: Record<TemplateSlot, string> = { unet: 'U-Net', classifier: 'classifier', upsampler: 'upsampler' };

export async function recognise(ck: CheckpointIndex, source: TemplateSource): Promise<Recognised> {
  const entries = await source.entries();
  const digest = new Sha256().update(new TextEncoder().encode(keysText(ck.tensors))).digestHex();
  const found = (entry: TemplateIndexEntry, template: Template): Recognised => ({
    fileName: ck.fileName, index: ck, entry, template, slot: template.slot,
    description: `${ck.fileName}: ${template.title}, ${parameterText(template.parameters)}`,
  });
  for (const entry of entries.filter((e) => e.keysSha256 === digest)) {
    const t = await source.template(entry);
    if (firstDifference(ck.tensors, t) === null) return found(entry, t);
  }
  // Keys in another order (or another file): compare with every template, in the index's order.
  let nearest: { entry: TemplateIndexEntry; template: Template; score: number } | null = null;
  for (const entry of entries) {
    const t = await source.template(entry);
    if (firstDifference(ck.tensors, t) === null) return found(entry, t);
    const score = similarity(ck.tensors, t);
    if (!nearest || score > nearest.score) nearest = { entry, template: t, score };
  }
  if (!nearest) throw new RecogniseError(`${ck.fileName}: there are no templates to compare it with`);
  const diff = firstDifference(ck.tensors, nearest.template)!;
  const name = nearest.entry.stem ? `${nearest.entry.stem}.pt, ` : '';
  throw new RecogniseError(
    `${ck.fileName} matches no released network: ${diff} (nearest: ${name}${nearest.template.title}; `
    + `${ck.tensors.length} tensors here, ${nearest.template.keys.length} there)`,
  );
}

export interface Assignment {
  unet: Recognised;
  classifier: Recognised | null;
  upsampler: Recognised | null;
}

/** Puts each recognised file in its slot: one U-Net, at most one classifier and one upsampler. */
export function assignSlots(files: readonly Recognised[]): Assignment {
  const by = (slot: TemplateSlot) => files.filter((f) => f.slot === slot);
  for (const slot of ['unet', 'classifier', 'upsampler'] as const) {
    const list = by(slot);
    if (list.length > 1) throw new RecogniseError(`${list.map((f) => f.fileName).join(' and ')} are both ${SLOT_NAMES[slot]}s; open one ${SLOT_NAMES[slot]} at a time`);
  }
  const [unet] = by('unet');
  if (!unet) {
    throw new RecogniseError(`no U-Net among ${files.map((f) => f.fileName).join(', ')}: a pack needs one (e.g. 64x64_diffusion.pt), with its classifier if you want guidance`);
  }
  const classifier = by('classifier')[0] ?? null;
  const upsampler = by('upsampler')[0] ?? null;
  if (classifier && classifier.template.imageSize !== unet.template.imageSize) {
    throw new RecogniseError(`${classifier.fileName} is a ${classifier.template.imageSize}×${classifier.template.imageSize} classifier; ${unet.fileName} makes ${unet.template.imageSize}×${unet.template.imageSize} images`);
  }
  const low = upsampler?.template.manifest.upsampler as { lowResSize?: number } | undefined;
  if (upsampler && low?.lowResSize !== unet.template.imageSize) {
    throw new RecogniseError(`${upsampler.fileName} upsamples ${low?.lowResSize}×${low?.lowResSize} images; ${unet.fileName} makes ${unet.template.imageSize}×${unet.template.imageSize}`);
  }
  return { unet, classifier, upsampler };
}
