// Which graph files a load uses on the chosen execution provider, decided from the manifest alone
// (before anything is downloaded): the preferred file where the EP can run it, the other one when
// it cannot (with the reason), or a refusal that says why no file can run.
import { formatBytes } from '../../shared/bytes';
import type { GraphFile, PackManifest, UpsamplerGraph } from '../../shared/manifest';
import type { Ep } from '../../shared/protocol';

export const EP_LIMITS = {
  /**
   * ONNX Runtime parses a graph file as one protobuf message, at most 2 GiB; larger models keep
   * their weights in ONNX external-data files (manifest `externalData`), which this limit spares.
   */
  protobufBytes: 2 ** 31 - 1,
  /** wasm32: the WebAssembly heap of ONNX Runtime's CPU backend cannot grow past 4 GiB. */
  wasmHeapBytes: 4 * 2 ** 30,
} as const;

export interface GraphChoice {
  unet: GraphFile;
  classifierGrad: GraphFile | null;
  /** The U-Net in use is a float16 graph. */
  fp16: boolean;
  /** The cascade's upsampler when the EP can run it beside the base graphs; null otherwise (or none). */
  upsampler: UpsamplerGraph | null;
  /** Why the preferred U-Net file is not used, or why the upsampler is left out; null when neither. */
  note: string | null;
  /**
   * wasm with the gradient graph in its own instance: the graphs fit the 4 GiB heaps only that way,
   * so that instance must start (no fallback into the U-Net's).
   */
  gradientApartRequired: boolean;
}

export class GraphChoiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphChoiceError';
  }
}

const EP_NAME: Record<Ep, string> = { webgpu: 'WebGPU', wasm: 'WebAssembly (CPU)' };

/** Why `ep` cannot run `g`, or null. */
export function cannotRun(g: GraphFile, ep: Ep, shaderF16: boolean): string | null {
  if (g.bytes > EP_LIMITS.protobufBytes) {
    return `${g.file} is ${formatBytes(g.bytes)}, over the 2 GiB ONNX Runtime reads from one graph file (weights that large belong in an external-data file)`;
  }
  if (g.dtype === 'float16' && ep === 'wasm') return `${g.file} is a float16 graph, which ONNX Runtime's WebAssembly backend does not run`;
  if (g.dtype === 'float16' && !shaderF16) return `${g.file} is a float16 graph and this WebGPU adapter lacks the shader-f16 feature`;
  return null;
}

/**
 * A graph's external-data files are loaded with it (ONNX Runtime takes their bytes as a session
 * option). On WebGPU with shader-f16 the fp16 U-Net (`unetFp16`, or a float16 `unet`) is preferred
 * (unless `preferFp16` is false: `?fp16=0`, the way out when fp16 overflows), else
 * the float32 one; the other is taken when the preferred one cannot run. On wasm the weights of
 * every graph stay in the WebAssembly heap, plus the serialized copy of the graph whose session is
 * being created (the .onnx file; external data is not part of it): more than 4 GiB is refused up front.
 * That limit holds per ONNX Runtime instance: `gradientApart` (wasm, the gradient graph in a worker of
 * its own) checks the U-Net's and the gradient graph's heaps each on its own.
 */
export function chooseGraphs(m: PackManifest, ep: Ep, shaderF16: boolean, preferFp16 = true, gradientApart = false): GraphChoice {
  const unets = [m.unet, m.unetFp16].filter((g): g is GraphFile => g !== undefined);
  const halfRuns = ep === 'webgpu' && shaderF16;
  const preferHalf = halfRuns && preferFp16;
  unets.sort((a, b) => rank(a, preferHalf) - rank(b, preferHalf));
  const reasons: string[] = [];
  let unet: GraphFile | null = null;
  for (const g of unets) {
    const why = cannotRun(g, ep, shaderF16);
    if (!why) {
      unet = g;
      break;
    }
    reasons.push(why);
  }
  if (!unet) throw new GraphChoiceError(`This pack cannot run on ${EP_NAME[ep]}: ${reasons.join('; ')}`);
  const grad = m.classifierGrad ?? null;
  const gradWhy = grad ? cannotRun(grad, ep, shaderF16) : null;
  if (gradWhy) throw new GraphChoiceError(`This pack cannot run on ${EP_NAME[ep]}: ${gradWhy}`);
  // wasm: each ONNX Runtime instance has one wasm32 heap of at most 4 GiB. With the gradient graph in
  // an instance of its own (`gradientApart`, threadSplit.ts) the U-Net's heap holds the U-Net (and the
  // upsampler), the other the gradient graph; else one heap holds them all.
  const heaps = (extra: GraphFile[]): GraphFile[][] =>
    gradientApart && grad ? [[unet, ...extra], [grad]] : [[unet, ...(grad ? [grad] : []), ...extra]];
  const overHeap = (extra: GraphFile[]) => heaps(extra).map(wasmHeapNeed).find((n) => n > EP_LIMITS.wasmHeapBytes) ?? null;
  if (ep === 'wasm') {
    const need = overHeap([]);
    if (need !== null) {
      throw new GraphChoiceError(
        `This pack cannot run on ${EP_NAME.wasm}: its graphs need about ${formatBytes(need)} of WebAssembly memory ` +
          `(the weights of every graph${gradientApart && grad ? ' in one ONNX Runtime instance' : ''} plus a serialized copy while a session is created), more than the 4 GiB a wasm32 heap holds` +
          (unets.some((g) => g.dtype === 'float16') ? '; a WebGPU adapter with shader-f16 could run its float16 U-Net' : ''),
      );
    }
  }
  const notes = reasons.length > 0 ? [`using ${unet.file}: ${reasons.join('; ')}`] : [];
  if (halfRuns && !preferFp16 && unet.dtype === 'float32' && unets.some((g) => g.dtype === 'float16')) {
    notes.push(`fp32 U-Net as asked (fp16=0)`);
  }
  // The upsampler is a second stage the base model does without: one the EP cannot run, or that
  // would not fit in the wasm heap beside the base graphs, is left out with a note, not refused.
  let upsampler = m.upsampler ?? null;
  if (upsampler) {
    const over = ep === 'wasm' ? overHeap([upsampler]) : null;
    const why = cannotRun(upsampler, ep, shaderF16) ??
      (over !== null ? `with it the graphs would need about ${formatBytes(over)} of WebAssembly memory, more than 4 GiB` : null);
    if (why) {
      notes.push(`no upsampling on ${EP_NAME[ep]}: ${why}`);
      upsampler = null;
    }
  }
  // Whether everything kept (upsampler included) would also fit one heap, should the gradient worker fail.
  const gradientApartRequired = ep === 'wasm' && gradientApart && grad !== null &&
    wasmHeapNeed([unet, grad, ...(upsampler ? [upsampler] : [])]) > EP_LIMITS.wasmHeapBytes;
  return { unet, classifierGrad: grad, fp16: unet.dtype === 'float16', upsampler, note: notes.length > 0 ? notes.join('. ') : null, gradientApartRequired };
}

/** wasm heap for these graphs: every graph's weights, plus the largest serialized .onnx copy during session creation. */
function wasmHeapNeed(graphs: readonly GraphFile[]): number {
  return graphs.reduce((s, g) => s + graphBytes(g), 0) + Math.max(...graphs.map((g) => g.bytes));
}

/** A graph's bytes with its external-data files. */
export function graphBytes(g: GraphFile): number {
  return g.bytes + (g.externalData ?? []).reduce((s, e) => s + e.bytes, 0);
}

/** The files a graph consists of: the .onnx file, then its external-data files. */
export function graphParts(g: GraphFile): { file: string; bytes: number; sha256: string }[] {
  return [{ file: g.file, bytes: g.bytes, sha256: g.sha256 }, ...(g.externalData ?? [])];
}

function rank(g: GraphFile, preferHalf: boolean): number {
  return (g.dtype === 'float16') === preferHalf ? 0 : 1;
}
