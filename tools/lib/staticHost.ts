// A plain static file server, as GitHub Pages and most static hosts are: files by extension, Range
// support, a folder redirected to its trailing slash and served as its index.html, and no COOP, COEP
// or CSP headers at all. Serves one folder (the built app) under a sub-path. `unreachable` makes
// requests for matching paths fail as if offline (the connection is closed without an answer).
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
};

export interface StaticHost {
  /** The app's URL, ending with "/". */
  url: string;
  /** Paths (below the sub-path) whose requests fail without an answer while this returns true. */
  unreachable: (path: string) => boolean;
  /** Every request: its path and the status answered (0: none, the connection was closed). */
  log: { path: string; status: number }[];
  close: () => Promise<void>;
}

/** `headers`: sent with every file (none by default, as GitHub Pages sends none of these). */
export async function serveStatic(folder: string, subPath: string, headers: Record<string, string> = {}): Promise<StaticHost> {
  const root = resolve(folder);
  const host: StaticHost = { url: '', unreachable: () => false, log: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const answer = (status: number, headers: Record<string, string | number> = {}, body?: string) => {
      host.log.push({ path, status });
      res.writeHead(status, headers).end(body);
    };
    if (!path.startsWith(subPath)) return answer(404, {}, 'not found');
    const rel = path.slice(subPath.length);
    if (host.unreachable(rel)) {
      host.log.push({ path, status: 0 });
      return void req.socket.destroy();
    }
    let file = normalize(join(root, rel));
    if (file !== root && !file.startsWith(root + sep)) return answer(404, {}, 'not found');
    let stat = statSync(file, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      if (!path.endsWith('/')) return answer(301, { Location: `${path}/` });
      file = join(file, 'index.html');
      stat = statSync(file, { throwIfNoEntry: false });
    }
    if (!stat?.isFile()) return answer(404, {}, 'not found');
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (m && start >= stat.size) return answer(416, { 'Content-Range': `bytes */${stat.size}` });
    host.log.push({ path, status: m ? 206 : 200 });
    res.writeHead(m ? 206 : 200, {
      ...headers,
      'Content-Type': type,
      'Content-Length': stat.size - start,
      'Accept-Ranges': 'bytes',
      ...(m ? { 'Content-Range': `bytes ${start}-${stat.size - 1}/${stat.size}` } : {}),
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file, { start, highWaterMark: 1 << 20 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${subPath}`;
  host.close = () => new Promise((r) => server.close(() => r()));
  return host;
}
