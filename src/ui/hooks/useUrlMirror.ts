// Params -> URL (replaceState, so the back button is not flooded), and URL -> params at start.
import { useEffect } from 'react';
import { appStore, type AppStore } from '../store/store';
import { parseUrlParams, toSearch } from '../url';

export function initFromUrl(store: AppStore, search: string): void {
  const { values, errors } = parseUrlParams(search);
  const s = store.getState();
  s.applyUrl(values);
  for (const e of errors) s.addNotice('warning', e);
}

export function useUrlMirror(): void {
  useEffect(
    () =>
      appStore.subscribe((s, prev) => {
        if (s.params === prev.params || !s.params.packId) return;
        const search = toSearch(s.params);
        if (search !== window.location.search) window.history.replaceState(null, '', search);
      }),
    [],
  );
}
