// Reads models/index.json once, settles which pack to use, and (re)loads it when that changes.
import { useEffect } from 'react';
import { browserIndexSource, fetchIndexJson } from '../indexCopy';
import { parsePackIndex } from '../packIndex';
import { IMPORTED_ID } from '../store/modelSlice';
import { appStore, useApp } from '../store/store';
import type { DiffusionClient } from '../bridge/client';

export function usePackIndex(): void {
  useEffect(() => {
    let live = true;
    const url = new URL('models/index.json', document.baseURI).href;
    // Offline, the copy kept from the last visit lists the packs (their files are stored by the worker).
    fetchIndexJson(url, browserIndexSource())
      .then(({ json, remember }) => {
        if (!live) return;
        const index = parsePackIndex(json, document.baseURI);
        void remember();
        const s = appStore.getState();
        s.setPacks(index.packs, index.defaultPackId);
        const wanted = s.params.packId;
        if (IMPORTED_ID.test(wanted)) return; // an imported pack: the stored list (listStored) brings it
        if (wanted && !index.packs.some((p) => p.id === wanted)) {
          s.addNotice('warning', `There is no model pack "${wanted}"; using "${index.defaultPackId}" instead.`);
        }
        if (!wanted || !index.packs.some((p) => p.id === wanted)) s.applyDefaults({ packId: index.defaultPackId });
      })
      .catch((e: unknown) => {
        if (live) appStore.getState().addNotice('error', `Could not read the list of model packs (${e instanceof Error ? e.message : e}).`);
      });
    return () => {
      live = false;
    };
  }, []);
}

export function usePackLoader(client: DiffusionClient): void {
  const packId = useApp((s) => s.params.packId);
  // The entry's URL, not the list: the list changes with every stored-packs report (imported packs).
  const url = useApp((s) => s.packs.find((p) => p.id === s.params.packId)?.url);
  useEffect(() => {
    const entry = appStore.getState().packs.find((p) => p.id === packId);
    if (entry && url) client.loadPack(entry);
  }, [client, packId, url]);
}
