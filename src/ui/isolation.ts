// Cross-origin isolation on hosts that do not send COOP/COEP: registers the service worker that adds
// them (src/sw/coiServiceWorker.ts, built as coi-sw.js) and reloads the page once so that it comes
// back through it. Runs before the app starts, so nothing is loaded twice. Where that is not possible
// (no service workers: some private windows; storage blocked; plain http on another host) or does not
// help, the app runs as before: wasm on one thread, which the execution provider notice says.

export const SW_FILE = 'coi-sw.js';
/** Set right before the reload: at most one automatic reload per visit, whatever happens. */
export const RELOAD_FLAG = 'gd-coi-reload';
/** How long registering and activating may take before the app starts without threads. */
const ACTIVATE_WAIT_MS = 5000;

export type Isolation =
  | 'isolated' // the server's headers or the service worker's: wasm threads
  | 'reloading' // the service worker was just activated; the page is reloading
  | 'unavailable'; // one thread

/** The parts of `window` used here (injectable for tests). */
export interface IsolationEnv {
  crossOriginIsolated: boolean;
  isSecureContext: boolean;
  serviceWorker: Pick<ServiceWorkerContainer, 'controller' | 'register' | 'ready'> | undefined;
  session: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** The page's base URL (the service worker sits next to index.html). */
  baseUrl: string;
  reload: () => void;
}

export function browserEnv(): IsolationEnv {
  let session: Storage | null = null;
  try {
    session = window.sessionStorage;
  } catch {
    // storage blocked: no reload guard, so no reload either
  }
  return {
    crossOriginIsolated: window.crossOriginIsolated,
    isSecureContext: window.isSecureContext,
    serviceWorker: 'serviceWorker' in navigator ? navigator.serviceWorker : undefined,
    session,
    baseUrl: document.baseURI,
    reload: () => window.location.reload(),
  };
}

const timeout = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms));

/**
 * Makes the page cross-origin isolated if it is not, by the service worker and one reload. Resolves
 * 'reloading' when the app must not start (the page is about to reload).
 */
export async function ensureIsolation(env: IsolationEnv = browserEnv(), waitMs = ACTIVATE_WAIT_MS): Promise<Isolation> {
  let reloadedJustNow: boolean;
  try {
    reloadedJustNow = env.session !== null && env.session.getItem(RELOAD_FLAG) !== null;
    env.session?.removeItem(RELOAD_FLAG);
  } catch {
    return env.crossOriginIsolated ? 'isolated' : 'unavailable'; // storage throws: no guard, no reload
  }
  if (env.crossOriginIsolated) return 'isolated';
  const sw = env.serviceWorker;
  // A page already controlled but not isolated (the browser ignores the worker's headers, or the
  // server sends other values): reloading again would change nothing. Likewise right after the reload.
  if (!sw || !env.isSecureContext || !env.session || sw.controller || reloadedJustNow) return 'unavailable';
  try {
    await sw.register(new URL(SW_FILE, env.baseUrl).href);
    if ((await Promise.race([sw.ready, timeout(waitMs)])) === 'timeout') return 'unavailable';
    env.session.setItem(RELOAD_FLAG, '1');
  } catch {
    return 'unavailable'; // registration refused (storage blocked, private window) or no coi-sw.js
  }
  env.reload();
  return 'reloading';
}
