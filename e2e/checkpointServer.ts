// A second HTTP server for the checkpoint-URL tests, on another port (so another origin than the page), serving
// the fixture's files in several ways by path prefix:
//   /cors/<file>   CORS for every origin, Range (206 with Content-Range), ETag: what a well-set-up host sends
//   /plain/<file>  no CORS headers at all (the browser keeps the answer from the page)
//   /corp/<file>   no CORS, but Cross-Origin-Resource-Policy: cross-origin (a no-cors request may see it)
//   /cors/page.html a web page (text/html) with CORS, where a file was expected
// Anything else: 404 (with CORS, so the page can read the status).
import { createServer, type Server } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface CheckpointServer {
  origin: string;
  close(): Promise<void>;
}

export async function serveCheckpoints(dir: string): Promise<CheckpointServer> {
  const server: Server = createServer((req, res) => {
    const [, mode, ...rest] = (req.url ?? '/').split('?')[0].split('/');
    const name = rest.join('/');
    if (mode === 'cors') {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, ETag');
    }
    if (mode === 'cors' && req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Headers': 'Range', 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    if (mode === 'corp') res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    if (mode === 'cors' && name === 'page.html') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>Download</title>');
      return;
    }
    const path = join(dir, name);
    if (!/^[\w.-]+$/.test(name) || !statSync(path, { throwIfNoEntry: false })?.isFile()) {
      if (mode !== 'cors') res.setHeader('Access-Control-Allow-Origin', '*');
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const bytes = readFileSync(path);
    const headers = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"${bytes.length}"` };
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(m[2] ? Number(m[2]) : bytes.length - 1, bytes.length - 1);
      if (start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1 });
      res.end(req.method === 'HEAD' ? undefined : bytes.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': bytes.length });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
