#!/usr/bin/env node
// Run an ONNX model with onnxruntime-node (CPU EP) on .npy inputs and write .npy outputs.
//
//   node tools/ort_run.mjs job.json
//
// job.json: {"model": "m.onnx", "threads": 2,
//            "runs": [{"inputs": {"x": "x.npy", "timesteps": "t.npy"},
//                      "outputs": {"model_output": "out.npy"}}, ...]}
// Every run uses the same session (so one file is exercised at several batch sizes). Prints a JSON
// summary ({inputNames, outputNames, runs:[{ms}]}) on stdout. Exit code 1 with a message on error.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const DTYPES = {
  '<f4': ['float32', Float32Array], '<f2': ['float16', Uint16Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '|u1': ['uint8', Uint8Array], '<f8': ['float64', Float64Array],
};
const BY_TYPE = Object.fromEntries(Object.entries(DTYPES).map(([descr, [t, ctor]]) => [t, [descr, ctor]]));

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: fortran order not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const dims = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!DTYPES[descr]) throw new Error(`${file}: dtype ${descr} not supported`);
  const [type, Ctor] = DTYPES[descr];
  const off = hstart + hlen;
  const bytes = buf.subarray(off);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const data = new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT);
  return new ort.Tensor(type, data, dims);
}

function writeNpy(file, tensor) {
  const entry = BY_TYPE[tensor.type];
  if (!entry) throw new Error(`cannot write dtype ${tensor.type}`);
  const [descr] = entry;
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const d = tensor.data;
  const body = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const jobFile = process.argv[2];
  if (!jobFile) throw new Error('usage: node tools/ort_run.mjs job.json');
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));
  const base = path.dirname(path.resolve(jobFile));
  const rel = (p) => (path.isAbsolute(p) ? p : path.join(base, p));
  const session = await ort.InferenceSession.create(rel(job.model), {
    executionProviders: ['cpu'],
    intraOpNumThreads: job.threads ?? 2,
    graphOptimizationLevel: job.optimization ?? 'all',
  });
  const summary = { inputNames: session.inputNames, outputNames: session.outputNames, runs: [] };
  for (const run of job.runs ?? []) {
    const feeds = {};
    for (const [name, file] of Object.entries(run.inputs)) feeds[name] = readNpy(rel(file));
    const t0 = performance.now();
    const out = await session.run(feeds);
    const ms = performance.now() - t0;
    for (const [name, file] of Object.entries(run.outputs ?? {})) {
      if (!out[name]) throw new Error(`model has no output ${name} (has ${Object.keys(out).join(', ')})`);
      writeNpy(rel(file), out[name]);
    }
    summary.runs.push({ ms, outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.dims])) });
  }
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_run: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
