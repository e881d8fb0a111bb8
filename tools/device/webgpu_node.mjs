#!/usr/bin/env node
// onnxruntime-web's WebGPU execution provider (the JSEP build the app uses) in Node.js, on Dawn through the
// `webgpu` npm package (dawn.node: Vulkan on Linux), timed on a pack's graphs. No browser involved.
//
//   node tools/device/webgpu_node.mjs --pack public/models/tiny16 [--graphs unet,unetFp16,classifierGrad]
//        [--batch 1] [--warmup 2] [--iters 10] [--io cpu|gpu] [--io-dir DIR] [--cpu-check] [--out result.json]
//
// Prints one JSON object (and writes it to --out): the adapter (vendor, architecture, description,
// isFallbackAdapter = software adapter), per graph the median ms of a session.run after warm-up (inputs
// uploaded from and outputs read back to the CPU, as the app's worker does), the guided step (U-Net call +
// gradient call, one after the other) for each U-Net variant, and with --cpu-check the max abs difference
// of every output against onnxruntime-node's CPU EP on the same inputs. --io-dir writes the inputs and the
// WebGPU outputs as .npy so tools/device/torch_cuda.py can compare PyTorch against them.
// --io gpu times the guided step as the app runs it on WebGPU (src/worker/runtime/graphIo.ts): x, timesteps and y
// uploaded once into GPU buffers that both graphs bind, outputs left in GPU buffers
// (preferredOutputLocation 'gpu-buffer') and read back after both graphs ran, and checks that its outputs
// equal the CPU-I/O run's.
//
// Where things are looked up (each may be overridden by an environment variable):
//   webgpu package      WEBGPU_PKG     else tmp/device/npm/node_modules/webgpu, node_modules/webgpu
//   onnxruntime-web     ORT_WEB_DIST   else tmp/device/ort-web, node_modules/onnxruntime-web/dist
//                       (needs ort.min.mjs, ort-wasm-simd-threaded.jsep.mjs, ort-wasm-simd-threaded.jsep.wasm)
//   onnxruntime-node    ORT_NODE_PKG   else node_modules/onnxruntime-node (only for --cpu-check)
// DAWN_FLAGS: comma-free list separated by ';' passed to create() (e.g. "backend=vulkan;adapter=NVIDIA").
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function fail(msg) {
  process.stderr.write(`webgpu_node: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const a = { graphs: 'unet,unetFp16,classifierGrad', batch: 1, warmup: 2, iters: 10, cpuCheck: false, label: null, io: 'cpu' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) fail(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--pack') a.pack = v();
    else if (k === '--graphs') a.graphs = v();
    else if (k === '--batch') a.batch = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else if (k === '--iters') a.iters = Number(v());
    else if (k === '--io-dir') a.ioDir = v();
    else if (k === '--out') a.out = v();
    else if (k === '--label') a.label = v();
    else if (k === '--io') a.io = v();
    else if (k === '--cpu-check') a.cpuCheck = true;
    else if (k === '-h' || k === '--help') {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0] + '\n');
      process.exit(0);
    } else fail(`unknown argument ${k}`);
  }
  if (!a.pack) fail('--pack DIR is required');
  if (a.io !== 'cpu' && a.io !== 'gpu') fail(`--io is cpu or gpu (got ${a.io})`);
  if (!(a.batch >= 1 && a.iters >= 1 && a.warmup >= 0)) fail('--batch and --iters must be >= 1, --warmup >= 0');
  return a;
}

function firstExisting(label, envName, candidates, probe) {
  const list = process.env[envName] ? [process.env[envName]] : candidates;
  for (const c of list) {
    const dir = path.resolve(ROOT, c);
    if (probe.every((f) => fs.existsSync(path.join(dir, f)))) return dir;
  }
  fail(`${label} not found: looked for ${probe.join(', ')} in ${list.map((c) => path.resolve(ROOT, c)).join(' | ')}` +
    (process.env[envName] ? '' : ` (set ${envName}, or run tools/device/prepare.sh)`));
}

// --- deterministic inputs ----------------------------------------------------------------------------

function mulberry32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeInputs(manifest, n) {
  const size = manifest.imageSize;
  const rnd = mulberry32(20210511);
  const x = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < x.length; i += 2) {
    // Box-Muller: standard normal noise, like x_T
    const u = Math.max(rnd(), 1e-12);
    const v = rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    x[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < x.length) x[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  const steps = manifest.diffusion?.diffusionSteps ?? 1000;
  const t = Float32Array.from({ length: n }, (_, i) => Math.round(((i + 1) * (steps - 1)) / (n + 1)));
  const classes = manifest.labels.length;
  const y = BigInt64Array.from({ length: n }, (_, i) => BigInt(i % classes));
  return { x, t, y, dims: [n, 3, size, size] };
}

// --- .npy ------------------------------------------------------------------------------------------

function writeNpy(file, data, dims) {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof BigInt64Array ? '<i8' : null;
  if (!descr) throw new Error(`cannot write ${data.constructor.name}`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

// --- stats -----------------------------------------------------------------------------------------

const round = (v, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

function stats(ms) {
  const s = [...ms].sort((p, q) => p - q);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median: round(median), min: round(s[0]), max: round(s[s.length - 1]), n: s.length };
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  let nan = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) nan++;
    else if (d > m) m = d;
  }
  return nan ? Infinity : m;
}

function maxAbs(a) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// --- dawn.node shim -------------------------------------------------------------------------------

/**
 * The JSEP build's wasm memory is a SharedArrayBuffer (it is the pthreads build), and ORT uploads tensors with
 * queue.writeBuffer(buffer, 0, heap, byteOffset, size). Browsers accept shared sources (AllowSharedBufferSource);
 * dawn.node 0.6 rejects them ("no overload matched for writeBuffer"). Copy such a source into a plain
 * ArrayBuffer first (browsers copy it too: writeBuffer is a staging copy by definition).
 */
function allowSharedWriteBuffer(GPUQueue) {
  if (!GPUQueue?.prototype?.writeBuffer || typeof SharedArrayBuffer === 'undefined') return;
  const orig = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function writeBuffer(buffer, bufferOffset, data, dataOffset = 0, size) {
    let bytes = null; // [SharedArrayBuffer, byte offset, byte length]
    if (data instanceof SharedArrayBuffer) {
      bytes = [data, dataOffset, size ?? data.byteLength - dataOffset];
    } else if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const el = data.BYTES_PER_ELEMENT ?? 1;
      const count = size ?? (data.byteLength / el) - dataOffset;
      bytes = [data.buffer, data.byteOffset + dataOffset * el, count * el];
    }
    if (!bytes) return orig.call(this, buffer, bufferOffset, data, dataOffset, size);
    const copy = new Uint8Array(bytes[2]);
    copy.set(new Uint8Array(bytes[0], bytes[1], bytes[2]));
    return orig.call(this, buffer, bufferOffset, copy.buffer, 0, bytes[2]);
  };
}

// --- main ------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const packDir = path.resolve(args.pack);
  const manifestFile = path.join(packDir, 'manifest.json');
  if (!fs.existsSync(manifestFile)) fail(`${manifestFile} not found`);
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const wanted = args.graphs.split(',').map((s) => s.trim()).filter(Boolean);
  for (const g of wanted) if (!['unet', 'unetFp16', 'classifierGrad'].includes(g)) fail(`unknown graph ${g}`);
  const graphs = wanted.filter((g) => manifest[g]);
  const skipped = wanted.filter((g) => !manifest[g]).map((g) => ({ graph: g, reason: 'not in the manifest' }));

  // WebGPU for Node: dawn.node
  const webgpuDir = firstExisting('the `webgpu` npm package (dawn.node)', 'WEBGPU_PKG',
    ['tmp/device/npm/node_modules/webgpu', 'node_modules/webgpu'], ['index.js', `dist/${process.platform}-${process.arch}/dawn.node`]);
  const ortDist = firstExisting('onnxruntime-web (JSEP build)', 'ORT_WEB_DIST', ['tmp/device/ort-web', 'node_modules/onnxruntime-web/dist'],
    ['ort.min.mjs', 'ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm']);
  let webgpu;
  try {
    webgpu = await import(pathToFileURL(path.join(webgpuDir, 'index.js')).href);
  } catch (e) {
    fail(`could not load dawn.node from ${webgpuDir}: ${e.message}`);
  }
  Object.assign(globalThis, webgpu.globals);
  allowSharedWriteBuffer(globalThis.GPUQueue);
  const dawnFlags = (process.env.DAWN_FLAGS ?? '').split(';').map((s) => s.trim()).filter(Boolean);
  const gpu = webgpu.create(dawnFlags);
  // Node >= 21 has a read-only navigator getter; define our own either way.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, hardwareConcurrency: 1, userAgent: 'node' }, configurable: true, writable: true });

  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    fail('no WebGPU adapter: Dawn found no Vulkan device. Is libvulkan.so.1 (the Vulkan loader) installed and an ICD ' +
      'visible (VK_ICD_FILENAMES / VK_DRIVER_FILES, e.g. the NVIDIA ICD json, or SwiftShader/lavapipe for a software run)? ' +
      'Run with DAWN_FLAGS="adapter=x" to make Dawn list the adapters it sees.');
  }
  const info = adapter.info ?? {};
  const adapterInfo = {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    isFallbackAdapter: Boolean(info.isFallbackAdapter),
    software: Boolean(info.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.description} ${info.device}`),
    shaderF16: adapter.features.has('shader-f16'),
    maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };

  const ort = await import(pathToFileURL(path.join(ortDist, 'ort.min.mjs')).href);
  ort.env.wasm.numThreads = 1; // WebGPU does the work; one wasm thread, no worker threads in Node
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = {
    mjs: pathToFileURL(path.join(ortDist, 'ort-wasm-simd-threaded.jsep.mjs')).href,
    wasm: pathToFileURL(path.join(ortDist, 'ort-wasm-simd-threaded.jsep.wasm')).href,
  };
  ort.env.logLevel = 'error';
  ort.env.webgpu.adapter = adapter; // use this adapter (ORT would otherwise request its own)
  ort.env.webgpu.powerPreference = 'high-performance';

  const pick = (t, needsY) => (needsY ? t : { x: t.x, timesteps: t.timesteps });

  let ortNode = null;
  if (args.cpuCheck) {
    const dir = process.env.ORT_NODE_PKG ?? path.join(ROOT, 'node_modules', 'onnxruntime-node');
    try {
      ortNode = createRequire(import.meta.url)(dir);
    } catch (e) {
      fail(`--cpu-check needs onnxruntime-node (${dir}): ${e.message}`);
    }
  }

  const inp = makeInputs(manifest, args.batch);
  if (args.ioDir) {
    fs.mkdirSync(args.ioDir, { recursive: true });
    writeNpy(path.join(args.ioDir, 'x.npy'), inp.x, inp.dims);
    writeNpy(path.join(args.ioDir, 'timesteps.npy'), inp.t, [args.batch]);
    writeNpy(path.join(args.ioDir, 'y.npy'), inp.y, [args.batch]);
  }
  const feedsFor = (T) => ({
    x: new T('float32', inp.x, inp.dims), timesteps: new T('float32', inp.t, [args.batch]), y: new T('int64', inp.y, [args.batch]),
  });

  const result = {
    tool: 'tools/device/webgpu_node.mjs', label: args.label, pack: path.relative(ROOT, packDir) || packDir, packName: manifest.name,
    imageSize: manifest.imageSize, batch: args.batch, warmup: args.warmup, iters: args.iters, io: args.io,
    node: process.version, onnxruntimeWeb: ort.env.versions?.web ?? null, ep: 'webgpu (JSEP build, ort.min.mjs)',
    dawnFlags, adapter: adapterInfo, graphs: {}, guidedStep: {}, skipped,
  };

  /** One step of the graphs `ss`: CPU I/O runs each in turn; GPU I/O queues all, then reads all back. */
  const stepOf = (ss) => async () => {
    if (args.io === 'cpu') {
      for (const s of ss) await s.read(await s.run());
      return;
    }
    const outs = [];
    for (const s of ss) outs.push(await s.run());
    await Promise.all(outs.map((o, k) => ss[k].read(o)));
    endStep();
  };
  const time = async (ss) => {
    const step = stepOf(ss);
    for (let i = 0; i < args.warmup; i++) await step();
    const ms = [];
    for (let i = 0; i < args.iters; i++) {
      const t0 = performance.now();
      await step();
      ms.push(performance.now() - t0);
    }
    return stats(ms);
  };

  // GPU I/O: this step's inputs as GPU buffers, uploaded once and bound by every graph of the step.
  let resolvedDevice = null; // ORT's GPUDevice, read after the first session exists
  let stepBuffers = null;
  const uploads = () => {
    if (stepBuffers) return stepBuffers.tensors;
    const dev = resolvedDevice;
    const up = (data, dataType, dims) => {
      const buffer = dev.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: 0x80 | 0x08 | 0x04 }); // STORAGE | COPY_DST | COPY_SRC
      dev.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      return { buffer, tensor: ort.Tensor.fromGpuBuffer(buffer, { dataType, dims }) };
    };
    const b = { x: up(inp.x, 'float32', inp.dims), timesteps: up(inp.t, 'float32', [args.batch]), y: up(inp.y, 'int64', [args.batch]) };
    stepBuffers = { b, tensors: { x: b.x.tensor, timesteps: b.timesteps.tensor, y: b.y.tensor } };
    return stepBuffers.tensors;
  };
  const endStep = () => {
    if (!stepBuffers) return;
    for (const v of Object.values(stepBuffers.b)) v.buffer.destroy();
    stepBuffers = null;
  };

  /** Session of graph g, run once (outputs checked and saved); returns its run function, or null if skipped. */
  const open = async (g) => {
    const entry = manifest[g];
    if (entry.dtype === 'float16' && !adapterInfo.shaderF16) {
      skipped.push({ graph: g, reason: 'adapter lacks shader-f16' });
      return null;
    }
    if (entry.externalData?.length) {
      skipped.push({ graph: g, reason: 'external data not supported by this script' });
      return null;
    }
    const file = path.join(packDir, entry.file);
    const bytes = fs.readFileSync(file);
    const rec = { file: entry.file, dtype: entry.dtype, MiB: round(bytes.length / 2 ** 20, 1) };
    const t0 = performance.now();
    let session;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: [{ name: 'webgpu' }], graphOptimizationLevel: 'all', logSeverityLevel: 3,
        ...(args.io === 'gpu' ? { preferredOutputLocation: 'gpu-buffer' } : {}),
      });
    } catch (e) {
      skipped.push({ graph: g, reason: `session create failed: ${e.message}` });
      return null;
    }
    rec.createMs = round(performance.now() - t0, 1);
    resolvedDevice ??= args.io === 'gpu' ? await ort.env.webgpu.device : null;
    const outNames = (g === 'classifierGrad' ? ['grad', 'logp', 'logits'] : ['model_output']).filter((o) => session.outputNames.includes(o));
    const needsY = session.inputNames.includes('y');
    const feeds = feedsFor(ort.Tensor);
    if (!needsY) delete feeds.y;
    // CPU I/O: a run returns with its outputs read back. GPU I/O: `run` only queues the graph on GPU-resident
    // inputs; `read` downloads (and frees) its outputs.
    const run = args.io === 'gpu' ? () => session.run(pick(uploads(), needsY), outNames) : () => session.run(feeds, outNames);
    const read = async (out) => {
      const data = {};
      for (const [name, t] of Object.entries(out)) {
        data[name] = args.io === 'gpu' ? await t.getData() : t.data;
        t.dispose?.();
      }
      return data;
    };
    const t1 = performance.now();
    const first = await run();
    const outs = await read(first);
    rec.firstRunMs = round(performance.now() - t1, 1);
    endStep();
    if (args.io === 'gpu') {
      // The same graph on CPU-uploaded inputs: GPU-resident I/O must not change a single output value.
      const viaCpu = await read(await session.run(feeds, outNames));
      rec.maxAbsDiffGpuIoVsCpuIo = Object.fromEntries(Object.entries(outs).map(([k, d]) => [k, maxAbsDiff(d, viaCpu[k])]));
    }
    for (const [name, d] of Object.entries(outs)) {
      if (args.ioDir) writeNpy(path.join(args.ioDir, `webgpu_${g}_${name}.npy`), d, first[name].dims);
    }
    rec.outputMaxAbs = Object.fromEntries(Object.entries(outs).map(([k, d]) => [k, round(maxAbs(d), 6)]));
    if (ortNode) {
      const cpu = await ortNode.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
      const ref = await cpu.run(feedsFor(ortNode.Tensor));
      rec.maxAbsDiffVsCpu = {};
      for (const [name, d] of Object.entries(outs)) rec.maxAbsDiffVsCpu[name] = ref[name] ? Number(maxAbsDiff(d, ref[name].data).toPrecision(4)) : null;
      await cpu.release?.();
    }
    result.graphs[g] = rec;
    return { run, read, release: () => session.release?.() };
  };

  // The gradient graph stays open; one U-Net variant at a time beside it (a full-size fp32 U-Net is 1.2 GB,
  // and the wasm heap that stages a model's bytes is 4 GB at most).
  const grad = graphs.includes('classifierGrad') ? await open('classifierGrad') : null;
  if (grad) result.graphs.classifierGrad.ms = await time([grad]);
  for (const u of ['unet', 'unetFp16']) {
    if (!graphs.includes(u)) continue;
    const s = await open(u);
    if (!s) continue;
    result.graphs[u].ms = await time([s]);
    if (grad) result.guidedStep[u] = { ms: await time([s, grad]) };
    await s.release();
  }
  if (grad) await grad.release();

  const json = JSON.stringify(result, null, 1);
  if (args.out) {
    fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
    fs.writeFileSync(args.out, json + '\n');
  }
  process.stdout.write(json + '\n');
}

main().then(
  // dawn.node keeps the process alive while a GPU instance is referenced: exit explicitly.
  () => process.exit(0),
  (e) => {
    process.stderr.write(`webgpu_node: ${e?.stack ?? e}\n`);
    process.exit(1);
  },
);
