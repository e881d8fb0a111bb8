// What the cross-origin isolation service worker (coiServiceWorker.ts) adds, and to what. Kept
// apart from the worker's event wiring so that unit tests can run it on plain Request/Response
// objects.
//
// COEP is `require-corp`, as `npm start` sends it: every file of the app is same-origin (which
// require-corp accepts as it is) and every browser with SharedArrayBuffer supports it, where
// `credentialless` is missing in Safari. A pack on another origin would be fetched in CORS mode,
// which either value accepts once that server sends CORS headers (docs/pack-format.md).

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;

/** Destinations whose response headers decide cross-origin isolation: the page and its workers. */
const ISOLATED_DESTINATIONS: ReadonlySet<string> = new Set(['document', 'iframe', 'worker', 'sharedworker']);

/**
 * Whether the worker should answer `req` itself (to add headers): navigations and worker scripts of
 * its own origin. Everything else (model files, Range requests, the wasm, anything cross-origin)
 * goes to the network untouched, so the worker never sits between a download and the page.
 */
export function wantsIsolationHeaders(req: Pick<Request, 'url' | 'mode' | 'destination' | 'method'>, origin: string): boolean {
  if (req.method !== 'GET') return false;
  if (new URL(req.url).origin !== origin) return false;
  return req.mode === 'navigate' || ISOLATED_DESTINATIONS.has(req.destination);
}

/**
 * `res` with COOP and COEP added where the server sent none (a server's own values win). Opaque
 * and redirect responses, which cannot be rebuilt, are returned as they are.
 */
export function withIsolationHeaders(res: Response): Response {
  if (res.type === 'opaque' || res.type === 'opaqueredirect' || res.status === 0) return res;
  const missing = Object.entries(ISOLATION_HEADERS).filter(([k]) => !res.headers.has(k));
  if (missing.length === 0) return res;
  const headers = new Headers(res.headers);
  for (const [k, v] of missing) headers.set(k, v);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}
