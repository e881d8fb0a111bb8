import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { initFromUrl } from './ui/hooks/useUrlMirror';
import { ensureIsolation } from './ui/isolation';
import { appStore } from './ui/store/store';
import './ui/styles.css';

function start(): void {
  // URL first, so the pack index and the first load already see the linked params.
  initFromUrl(appStore, window.location.search);
  const root = document.getElementById('root');
  if (!root) throw new Error('index.html has no #root');
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

// Cross-origin isolation first (wasm threads): on a host without COOP/COEP the page registers a
// service worker and reloads once before anything else starts.
void ensureIsolation()
  .catch(() => 'unavailable' as const)
  .then((state) => {
    if (state !== 'reloading') start();
  });
