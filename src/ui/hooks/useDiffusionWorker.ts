// Creates the worker client once per App and ties the worker's lifetime to the component.
import { useEffect, useState } from 'react';
import { frameBus } from '../frames';
import { appStore } from '../store/store';
import { createDiffusionClient, type DiffusionClient, type WorkerLike } from '../bridge/client';

function spawnWorker(): WorkerLike {
  return new Worker(new URL('../../worker/main.ts', import.meta.url), { type: 'module', name: 'diffusion' });
}

export function useDiffusionWorker(): DiffusionClient {
  const [client] = useState(() => createDiffusionClient(appStore, frameBus, spawnWorker));
  useEffect(() => {
    const detach = client.attach();
    client.refreshStored(); // lists the stored packs, imported ones among them (they join the picker)
    return detach;
  }, [client]);
  return client;
}
