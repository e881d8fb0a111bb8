// Which files an ONNX graph would read its weights from (ONNX "external data"), found by walking the
// model's protobuf bytes without decoding the weights. Pure: no DOM, no onnxruntime.
//
// A graph names its external-data files itself (TensorProto.external_data "location"), and ONNX Runtime
// opens what it names: given the model from memory with some files in `externalData`, a location not
// among them is read from the disk (Node: relative to the working directory). So every reader of a pack
// checks with `externalDataProblem` that the graph names only the files its manifest entry lists, which
// the reader then hands over from memory, checked (docs/security.md).

// Field numbers of onnx.proto (the messages that can hold a TensorProto, and TensorProto's own).
const MODEL = { graph: 7, trainingInfo: 20, functions: 25 } as const;
const GRAPH = { node: 1, initializer: 5, sparseInitializer: 15 } as const;
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE = { t: 5, g: 6, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 } as const;
const FUNCTION_NODE = 7;
const TRAINING_INFO = { initialization: 1, algorithm: 2 } as const;
const SPARSE = { values: 1, indices: 2 } as const;
const TENSOR = { name: 8, externalData: 13, dataLocation: 14 } as const;
const TENSOR_EXTERNAL = 1;
/** Graphs nested in attributes (If / Loop bodies) deeper than this are refused (ORT's own limit is 100). */
const MAX_NESTING = 64;

export class OnnxScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxScanError';
  }
}

interface Field {
  no: number;
  wire: number;
  /** Varint value (wire type 0). */
  value: number;
  /** Byte range of a length-delimited payload (wire type 2). */
  start: number;
  end: number;
}

function varint(b: Uint8Array, at: { i: number }, end: number): number {
  let v = 0;
  for (let shift = 1; ; shift *= 128) {
    if (at.i >= end || shift > 2 ** 63) throw new OnnxScanError(`malformed protobuf at byte ${at.i}`);
    const c = b[at.i++];
    v += (c & 0x7f) * shift;
    if (c < 0x80) return v;
  }
}

/** Skips a (deprecated) group up to its end tag, as protobuf's own parser does with an unknown one. */
function skipGroup(b: Uint8Array, at: { i: number }, end: number, no: number, depth = 0): void {
  if (depth > MAX_NESTING) throw new OnnxScanError(`protobuf groups nested more than ${MAX_NESTING} deep`);
  for (;;) {
    const key = varint(b, at, end);
    const wire = key % 8;
    if (wire === 4) {
      if (Math.floor(key / 8) !== no) throw new OnnxScanError(`malformed protobuf (unmatched group end) at byte ${at.i}`);
      return;
    }
    if (wire === 0) varint(b, at, end);
    else if (wire === 1) at.i += 8;
    else if (wire === 5) at.i += 4;
    else if (wire === 2) at.i += varint(b, at, end);
    else if (wire === 3) skipGroup(b, at, end, Math.floor(key / 8), depth + 1);
    else throw new OnnxScanError(`malformed protobuf (wire type ${wire}) at byte ${at.i}`);
    if (at.i > end) throw new OnnxScanError('truncated protobuf group');
  }
}

/** The fields of the message in b[start, end). */
function* fields(b: Uint8Array, start: number, end: number): Generator<Field> {
  const at = { i: start };
  while (at.i < end) {
    const key = varint(b, at, end);
    const no = Math.floor(key / 8);
    const wire = key % 8;
    const f: Field = { no, wire, value: 0, start: 0, end: 0 };
    if (wire === 0) f.value = varint(b, at, end);
    else if (wire === 1) at.i += 8;
    else if (wire === 5) at.i += 4;
    else if (wire === 2) {
      const len = varint(b, at, end);
      f.start = at.i;
      f.end = at.i + len;
      at.i = f.end;
    } else if (wire === 3) skipGroup(b, at, end, no);
    else throw new OnnxScanError(`malformed protobuf (wire type ${wire}) at byte ${at.i}`);
    if (at.i > end) throw new OnnxScanError(`truncated protobuf field ${no} (ends past byte ${end})`);
    if (no === 0) throw new OnnxScanError(`malformed protobuf (field number 0) at byte ${at.i}`);
    yield f;
  }
}

const utf8 = new TextDecoder();
/** Text of b[s, e): decoded from a copy, since browsers' TextDecoder refuses views of shared memory (a cross-origin
 *  isolated load hands the model file over in a SharedArrayBuffer). */
const text = (b: Uint8Array, s: number, e: number): string => utf8.decode(b.slice(s, e));

/** One external-data reference: the tensor that has it and the location it names. */
export interface ExternalRef {
  tensor: string;
  location: string;
}

function tensor(b: Uint8Array, s: number, e: number, out: ExternalRef[]): void {
  let name = '';
  let external = false;
  const locations: string[] = [];
  for (const f of fields(b, s, e)) {
    if (f.no === TENSOR.name && f.wire === 2) name = text(b, f.start, f.end);
    else if (f.no === TENSOR.dataLocation && f.wire === 0) external ||= f.value === TENSOR_EXTERNAL;
    else if (f.no === TENSOR.externalData && f.wire === 2) {
      external = true;
      let key = '';
      let value = '';
      for (const kv of fields(b, f.start, f.end)) {
        if (kv.wire !== 2) continue;
        if (kv.no === 1) key = text(b, kv.start, kv.end);
        else if (kv.no === 2) value = text(b, kv.start, kv.end);
      }
      if (key === 'location') locations.push(value);
    }
  }
  if (external) for (const location of locations.length ? locations : ['']) out.push({ tensor: name, location });
}

function sparse(b: Uint8Array, s: number, e: number, out: ExternalRef[]): void {
  for (const f of fields(b, s, e)) if (f.wire === 2 && (f.no === SPARSE.values || f.no === SPARSE.indices)) tensor(b, f.start, f.end, out);
}

function graph(b: Uint8Array, s: number, e: number, out: ExternalRef[], depth: number): void {
  if (depth > MAX_NESTING) throw new OnnxScanError(`graphs nested more than ${MAX_NESTING} deep`);
  for (const f of fields(b, s, e)) {
    if (f.wire !== 2) continue;
    if (f.no === GRAPH.initializer) tensor(b, f.start, f.end, out);
    else if (f.no === GRAPH.sparseInitializer) sparse(b, f.start, f.end, out);
    else if (f.no === GRAPH.node) node(b, f.start, f.end, out, depth);
  }
}

function node(b: Uint8Array, s: number, e: number, out: ExternalRef[], depth: number): void {
  for (const f of fields(b, s, e)) {
    if (f.no !== NODE_ATTRIBUTE || f.wire !== 2) continue;
    for (const a of fields(b, f.start, f.end)) {
      if (a.wire !== 2) continue;
      if (a.no === ATTRIBUTE.t || a.no === ATTRIBUTE.tensors) tensor(b, a.start, a.end, out);
      else if (a.no === ATTRIBUTE.sparseTensor || a.no === ATTRIBUTE.sparseTensors) sparse(b, a.start, a.end, out);
      else if (a.no === ATTRIBUTE.g || a.no === ATTRIBUTE.graphs) graph(b, a.start, a.end, out, depth + 1);
    }
  }
}

/** Every external-data reference in the model `bytes` (initializers, attributes, subgraphs, functions, training info). */
export function externalDataRefs(bytes: Uint8Array): ExternalRef[] {
  const out: ExternalRef[] = [];
  for (const f of fields(bytes, 0, bytes.length)) {
    if (f.wire !== 2) continue;
    if (f.no === MODEL.graph) graph(bytes, f.start, f.end, out, 0);
    else if (f.no === MODEL.functions) {
      for (const n of fields(bytes, f.start, f.end)) if (n.no === FUNCTION_NODE && n.wire === 2) node(bytes, n.start, n.end, out, 1);
    } else if (f.no === MODEL.trainingInfo) {
      for (const g of fields(bytes, f.start, f.end)) {
        if (g.wire === 2 && (g.no === TRAINING_INFO.initialization || g.no === TRAINING_INFO.algorithm)) graph(bytes, g.start, g.end, out, 1);
      }
    }
  }
  return out;
}

const short = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/**
 * Null when every external-data location in the graph `bytes` (named `file`) is one of `listed` (its
 * manifest entry's externalData files), else the problem in one sentence (also for bytes that are not
 * a readable protobuf).
 */
export function externalDataProblem(bytes: Uint8Array, file: string, listed: readonly string[]): string | null {
  let refs: ExternalRef[];
  try {
    refs = externalDataRefs(bytes);
  } catch (e) {
    if (e instanceof OnnxScanError) return `${file} is not a readable ONNX graph (${e.message})`;
    throw e;
  }
  const bad = refs.find((r) => !listed.includes(r.location));
  if (!bad) return null;
  return `${file}: tensor ${short(bad.tensor)} takes its data from ${short(bad.location)}, which is not one of this graph's external-data files in the manifest (${listed.join(', ') || 'none'})`;
}
