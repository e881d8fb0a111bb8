import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { defaultClientConditions, defineConfig, type Connect, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { CHECKPOINT_CONNECT_SRC } from './src/shared/checkpointUrl.ts';

// Cross-origin isolation: onnxruntime-web's wasm threads need SharedArrayBuffer.
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// Content-Security-Policy of the built app (npm start). Everything comes from this origin, except the
// checkpoint files a visitor gives by URL (connect-src: https: servers and local http servers, see
// src/shared/checkpointUrl.ts); 'wasm-unsafe-eval' lets onnxruntime-web compile its WebAssembly (in the
// worker, which gets the same header with its script) and nothing else is evaluated. See docs/security.md.
const CSP = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'"],
  'connect-src': ["'self'", ...CHECKPOINT_CONNECT_SRC],
  'img-src': ["'self'", 'data:', 'blob:'],
  'style-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};
const cspText = (extra: Partial<Record<keyof typeof CSP, string[]>> = {}) =>
  Object.entries(CSP)
    .map(([k, v]) => [k, ...v, ...(extra[k as keyof typeof CSP] ?? [])].join(' '))
    .join('; ');

const securityHeaders = (csp: string) => ({
  ...isolationHeaders,
  'Content-Security-Policy': csp,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
});

/** `vite preview` (npm start, Playwright): the production policy. */
export const previewHeaders = securityHeaders(cspText());
/**
 * `vite` (dev server): the same, except that the dev server itself needs inline code: React Fast
 * Refresh's preamble is an inline script and Vite injects CSS as <style> elements.
 */
export const devHeaders = securityHeaders(cspText({ 'script-src': ["'unsafe-inline'"], 'style-src': ["'unsafe-inline'"] }));

/**
 * The headers on every response, 404s included (Vite's `headers` options reach only the files it
 * serves), and an explicit type for model graphs: bytes, not text, instead of no type at all.
 */
function securityHeadersPlugin(): Plugin {
  const withHeaders = (headers: Record<string, string>): Connect.NextHandleFunction => (req, res, next) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if ((req.url ?? '').split(/[?#]/)[0].endsWith('.onnx')) res.setHeader('Content-Type', 'application/octet-stream');
    next();
  };
  return {
    name: 'security-headers',
    // Added before Vite's own middlewares, which keep a type already set when they know none.
    configureServer: (server) => void server.middlewares.use(withHeaders(devHeaders)),
    configurePreviewServer: (server) => void server.middlewares.use(withHeaders(previewHeaders)),
  };
}

const RANGE_TYPES: Record<string, string> = {
  '.json': 'application/json', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.html': 'text/html', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/**
 * The byte range a `Range` header asks of a file of `size` bytes: [start, end] inclusive, 'unsatisfiable'
 * (answered 416), or null when the header is to be ignored (another unit, several ranges, bad syntax:
 * the whole file with 200, as RFC 9110 allows).
 */
export function byteRange(header: string, size: number): [number, number] | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.replace(/\s+/g, ''));
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]); // a suffix: the last n bytes
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Number(m[2]);
  if (start >= size || last < start) return 'unsatisfiable';
  return [start, Math.min(last, size - 1)];
}

/**
 * Range requests on the static files under `root`, answered here: the file server behind Vite (sirv)
 * reads `bytes=-10` as the first 11 bytes, `bytes=0-0` as the whole file, and drops the connection
 * on `bytes=10-5`. Anything that is not a file inside `root` is left to it (it answers 404).
 */
function rangeRequests(root: () => string): Connect.NextHandleFunction {
  return (req, res, next) => {
    const header = req.headers.range;
    if (!header || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    if (req.headers['if-range']) {
      delete req.headers.range; // no validators here: the whole file is always a correct answer
      return next();
    }
    let file: string;
    let size: number;
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const base = realpathSync(root());
      file = realpathSync(join(base, path));
      const st = statSync(file);
      if (!file.startsWith(base + sep) || !st.isFile()) return next();
      size = st.size;
    } catch {
      return next();
    }
    const range = byteRange(header, size);
    if (range === null) {
      delete req.headers.range;
      return next();
    }
    res.setHeader('Accept-Ranges', 'bytes');
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
      return void res.end();
    }
    const [start, end] = range;
    if (!res.getHeader('Content-Type')) res.setHeader('Content-Type', RANGE_TYPES[extname(file)] ?? 'application/octet-stream');
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': String(end - start + 1) });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file, { start, end }).on('error', () => res.destroy()).pipe(res);
  };
}

function rangeRequestsPlugin(): Plugin {
  return {
    name: 'range-requests',
    configureServer: (server) => void server.middlewares.use(rangeRequests(() => server.config.publicDir)),
    configurePreviewServer: (server) =>
      void server.middlewares.use(rangeRequests(() => resolve(server.config.root, server.config.build.outDir))),
  };
}

/**
 * The cross-origin isolation service worker (src/sw/), emitted as `coi-sw.js` beside index.html: a
 * fixed name, so that a page registers the same worker across deployments, and a classic script
 * (it imports nothing the app shares, so it is one chunk without imports or exports).
 */
function serviceWorkerPlugin(): Plugin {
  return {
    name: 'coi-service-worker',
    apply: 'build',
    buildStart() {
      this.emitFile({ type: 'chunk', id: fileURLToPath(new URL('./src/sw/coiServiceWorker.ts', import.meta.url)), fileName: 'coi-sw.js' });
    },
  };
}

export default defineConfig({
  // Relative base: the built app works from any sub-path (packs are fetched relative to the page).
  base: './',
  // Multi-page, not SPA: a missing file is a real 404 instead of index.html with 200, so a missing
  // manifest or model reads as "not found" in the app (index.html and bench.html still serve).
  appType: 'mpa',
  plugins: [react(), securityHeadersPlugin(), rangeRequestsPlugin(), serviceWorkerPlugin()],
  worker: { format: 'es' },
  // Pick onnxruntime-web's build that loads its wasm glue (.mjs) as a separate file. The default
  // build inlines the glue, so its pthread workers would re-run our whole worker chunk.
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  // Pre-bundling rewrites import.meta.url, which onnxruntime-web uses to find its .wasm in dev.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers: devHeaders },
  preview: { headers: previewHeaders },
  build: { target: 'es2022', chunkSizeWarningLimit: 1024 },
});
