// The cross-origin isolation service worker, built to `coi-sw.js` next to index.html (vite.config.ts).
// On a static host that sends no COOP/COEP headers (GitHub Pages and most others), it adds them to
// the page and its worker scripts, so the page is cross-origin isolated and onnxruntime-web's wasm EP
// gets its threads (SharedArrayBuffer). It caches nothing and answers nothing else: model files, the
// wasm and every other request go to the network as they would without it. Where the server already
// sends the headers (`npm start`), the page never registers it (src/ui/isolation.ts).
// No exports: the built file must be a classic script.
import { wantsIsolationHeaders, withIsolationHeaders } from './isolationHeaders';

declare const self: ServiceWorkerGlobalScope;

// Take over at once: the page reloads right after registering, and must come back controlled.
self.addEventListener('install', () => void self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (e) => {
  if (!wantsIsolationHeaders(e.request, self.location.origin)) return;
  e.respondWith(fetch(e.request).then(withIsolationHeaders));
});
