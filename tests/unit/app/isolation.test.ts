// Cross-origin isolation on static hosts: what the service worker adds to which responses
// (src/sw/isolationHeaders.ts), and the page's register-and-reload-once logic (src/ui/isolation.ts).
// End to end, on a headerless static server: e2e/isolation.spec.ts.
import { describe, expect, it, vi } from 'vitest';
import { wantsIsolationHeaders, withIsolationHeaders } from '../../../src/sw/isolationHeaders';
import { ensureIsolation, RELOAD_FLAG, SW_FILE, type IsolationEnv } from '../../../src/ui/isolation';

const ORIGIN = 'https://user.github.io';

describe('wantsIsolationHeaders', () => {
  const req = (url: string, mode: RequestMode, destination: RequestDestination, method = 'GET') => ({ url, mode, destination, method });

  it('takes the page and worker scripts of its own origin', () => {
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/?pack=tiny16`, 'navigate', 'document'), ORIGIN)).toBe(true);
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/assets/main-x.js`, 'same-origin', 'worker'), ORIGIN)).toBe(true);
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/assets/ort-wasm-simd-threaded-x.mjs`, 'same-origin', 'worker'), ORIGIN)).toBe(true);
  });

  it('leaves model files, the wasm, other methods and other origins to the network', () => {
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/models/tiny16/unet.onnx`, 'cors', ''), ORIGIN)).toBe(false);
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/assets/ort.wasm`, 'same-origin', ''), ORIGIN)).toBe(false);
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/assets/index.js`, 'cors', 'script'), ORIGIN)).toBe(false);
    expect(wantsIsolationHeaders(req(`${ORIGIN}/app/`, 'navigate', 'document', 'POST'), ORIGIN)).toBe(false);
    expect(wantsIsolationHeaders(req('https://cdn.example/app/', 'navigate', 'document'), ORIGIN)).toBe(false);
  });
});

describe('withIsolationHeaders', () => {
  it('adds COOP and COEP (require-corp) and keeps the body, status and every other header', async () => {
    const res = withIsolationHeaders(new Response('<p>app</p>', {
      status: 200, statusText: 'OK', headers: { 'Content-Type': 'text/html', 'Content-Security-Policy': "default-src 'self'" },
    }));
    expect(res.headers.get('Cross-Origin-Opener-Policy')).toBe('same-origin');
    expect(res.headers.get('Cross-Origin-Embedder-Policy')).toBe('require-corp');
    expect(res.headers.get('Content-Security-Policy')).toBe("default-src 'self'");
    expect(res.headers.get('Content-Type')).toBe('text/html');
    expect([res.status, res.statusText, await res.text()]).toEqual([200, 'OK', '<p>app</p>']);
  });

  it("keeps the server's own values and answers that need nothing", () => {
    const own = new Response('x', { headers: { 'Cross-Origin-Embedder-Policy': 'credentialless' } });
    const out = withIsolationHeaders(own);
    expect(out.headers.get('Cross-Origin-Embedder-Policy')).toBe('credentialless');
    expect(out.headers.get('Cross-Origin-Opener-Policy')).toBe('same-origin');
    const both = new Response('x', { headers: { 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Opener-Policy': 'same-origin' } });
    expect(withIsolationHeaders(both)).toBe(both);
    const notFound = withIsolationHeaders(new Response('missing', { status: 404 }));
    expect([notFound.status, notFound.headers.get('Cross-Origin-Embedder-Policy')]).toEqual([404, 'require-corp']);
    const failed = Response.error(); // status 0, like opaque answers: cannot be rebuilt
    expect(withIsolationHeaders(failed)).toBe(failed);
  });
});

/** A fake window: storage as a Map, a service worker container that records what happens. */
function fakeEnv(over: Partial<IsolationEnv> & { controlled?: boolean; registerFails?: boolean; neverReady?: boolean } = {}) {
  const stored = new Map<string, string>();
  const register = vi.fn(async (url: string | URL) => {
    if (over.registerFails) throw new DOMException('storage blocked', 'SecurityError');
    return { scope: String(url) } as unknown as ServiceWorkerRegistration;
  });
  const reload = vi.fn();
  const env: IsolationEnv = {
    crossOriginIsolated: false,
    isSecureContext: true,
    serviceWorker: {
      controller: over.controlled ? ({} as ServiceWorker) : null,
      register,
      ready: over.neverReady ? new Promise(() => {}) : Promise.resolve({} as ServiceWorkerRegistration),
    },
    session: { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => void stored.set(k, v), removeItem: (k) => void stored.delete(k) },
    baseUrl: `${ORIGIN}/app/index.html?pack=tiny16`,
    reload,
    ...over,
  };
  return { env, register, reload, stored };
}

describe('ensureIsolation', () => {
  it('does nothing where the server already isolates the page (npm start)', async () => {
    const { env, register, reload } = fakeEnv({ crossOriginIsolated: true });
    expect(await ensureIsolation(env)).toBe('isolated');
    expect(register).not.toHaveBeenCalled();
    expect(reload).not.toHaveBeenCalled();
  });

  it('registers the worker beside index.html and reloads once; after the reload it never reloads again', async () => {
    const { env, register, reload, stored } = fakeEnv();
    expect(await ensureIsolation(env)).toBe('reloading');
    expect(register).toHaveBeenCalledWith(`${ORIGIN}/app/${SW_FILE}`);
    expect(reload).toHaveBeenCalledTimes(1);
    expect(stored.has(RELOAD_FLAG)).toBe(true);
    // Came back isolated: the flag is cleared for later visits.
    expect(await ensureIsolation({ ...env, crossOriginIsolated: true })).toBe('isolated');
    expect(stored.has(RELOAD_FLAG)).toBe(false);
    // Came back NOT isolated (the browser ignored the headers): one thread, no second reload.
    stored.set(RELOAD_FLAG, '1');
    expect(await ensureIsolation(env)).toBe('unavailable');
    expect(reload).toHaveBeenCalledTimes(1);
  });

  it('a page the worker controls but that is still not isolated is not reloaded', async () => {
    const { env, register, reload } = fakeEnv({ controlled: true });
    expect(await ensureIsolation(env)).toBe('unavailable');
    expect(register).not.toHaveBeenCalled();
    expect(reload).not.toHaveBeenCalled();
  });

  it('one thread, without reloading, where no service worker can run', async () => {
    const cases = [
      fakeEnv({ serviceWorker: undefined }), // e.g. a private window
      fakeEnv({ isSecureContext: false }), // plain http on another host
      fakeEnv({ session: null }), // storage blocked
      fakeEnv({ registerFails: true }), // registration refused, or coi-sw.js missing
      fakeEnv({ neverReady: true }), // never activates
    ];
    for (const { env, reload } of cases) {
      expect(await ensureIsolation(env, 20)).toBe('unavailable');
      expect(reload).not.toHaveBeenCalled();
    }
    const throwing = fakeEnv();
    throwing.env.session = { getItem: () => { throw new DOMException('denied', 'SecurityError'); }, setItem: () => {}, removeItem: () => {} };
    expect(await ensureIsolation(throwing.env)).toBe('unavailable');
    expect(throwing.reload).not.toHaveBeenCalled();
  });
});
