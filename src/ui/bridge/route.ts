// Applies one worker message to the store and the frame bus. Messages whose runId/loadId is
// not the newest one are dropped here, so a stale run can never paint or change the status.
import { assertNever, type FromWorker } from '../../shared/protocol';
import type { FrameBus } from '../frames';
import { liveBuses, type LiveBuses } from '../liveFrames';
import { adoptPack } from '../packDefaults';
import type { AppStore } from '../store/store';

/** What the client must do beyond updating state. */
export type RouteEffect = 'none' | 'restartWorker' | 'estimateStorage';

export function routeMessage(store: AppStore, frames: FrameBus, msg: FromWorker, live: LiveBuses = liveBuses): RouteEffect {
  const s = store.getState();
  switch (msg.kind) {
    case 'progress':
      if (msg.loadId === s.loadId) {
        s.loadProgress({
          file: msg.file, loaded: msg.loaded, total: msg.total, fromCache: msg.fromCache,
          bytesPerSec: msg.bytesPerSec, etaSec: msg.etaSec, resumedAt: msg.resumedAt,
        });
      }
      return 'none';
    case 'loadStage':
      if (msg.loadId === s.loadId) s.loadStageChanged(msg.stage, msg.file);
      return 'none';
    case 'needStorageEstimate':
      // Answered by the client even for an older load: the worker is waiting on it either way.
      return 'estimateStorage';
    case 'storedPacks':
      s.setStored({ packs: msg.packs, available: msg.available, error: msg.error });
      return 'none';
    case 'ready':
      if (msg.loadId !== s.loadId) return 'none';
      s.loadReady(msg.manifest, msg.epInfo, msg.warmupMs, msg.timings ?? null);
      adoptPack(store, msg.manifest);
      return 'none';
    case 'loadError':
      if (msg.loadId === s.loadId) s.loadFailed(msg.message);
      return 'none';
    case 'started':
      if (msg.runId === s.runId) s.runStarted(msg.numSteps, msg.upsampleSteps ?? 0);
      return 'none';
    case 'frame':
      if (msg.runId !== s.runId || s.runState !== 'running') return 'none';
      // The upsampler's frames paint the larger image; the base model's charts and step stay as they were.
      if (msg.stage === 'upsample') s.upsampleStepFinished(msg.step, msg.numSteps);
      else s.stepFinished(msg.step, msg.numSteps, msg.logp, msg.classifierScale, msg.cfgScale, msg.gradNorm ?? null);
      frames.publish({
        runId: msg.runId, step: msg.step, width: msg.width, height: msg.height, rgba: new Uint8ClampedArray(msg.rgba),
        params: s.runParams ?? undefined,
      });
      if (msg.heat) {
        live.heat.publish({ runId: msg.runId, step: msg.step, width: msg.width, height: msg.height, heat: new Float32Array(msg.heat), max: msg.heatMax ?? 0 });
      }
      return 'none';
    case 'gridFrame': {
      const view = s.runParams?.grid?.view;
      if (msg.runId !== s.runId || s.runState !== 'running' || !view) return 'none';
      // The status line ("step k / N") is shared by every view; log p per step is the single view's chart.
      s.stepFinished(msg.step, msg.numSteps, null, 0, 0);
      s.gridStepFinished(view, msg.runId, msg.step, msg.logp, msg.pixelDiversity, msg.groupLogp ?? null);
      live.grid[view].publish({
        runId: msg.runId, step: msg.step, width: msg.width, height: msg.height, cells: msg.cells,
        rgba: new Uint8ClampedArray(msg.rgba), params: s.runParams ?? undefined,
      });
      return 'none';
    }
    case 'gridReadout': {
      const view = s.runParams?.grid?.view;
      if (msg.runId === s.runId && view) {
        const { pixelL2, classifierL2, logp, precision, recall, prNote } = msg;
        const pr = precision !== undefined || prNote !== undefined ? { precision: precision ?? null, recall: recall ?? null, prNote: prNote ?? null } : {};
        s.gridReadout(view, msg.runId, { pixelL2, classifierL2, logp, ...pr });
      }
      return 'none';
    }
    case 'done':
      if (msg.runId === s.runId) s.runDone(msg.ms);
      return 'none';
    case 'cancelled':
      if (msg.runId === s.runId) s.runCancelled(msg.step, msg.stage, msg.upsampleStep);
      return 'none';
    case 'error':
      if (msg.runId === s.runId) s.runFailed(msg.message);
      return 'none';
    case 'importRecognised':
      if (msg.importId === s.importId) s.importRecognised(msg.files);
      return 'none';
    case 'importProgress':
      if (msg.importId === s.importId) s.importProgressed({ phase: msg.phase, file: msg.file, loaded: msg.loaded, total: msg.total });
      return 'none';
    case 'importDone':
      if (msg.importId !== s.importId) return 'none';
      s.importFinished(msg.title, msg.timings);
      // The new pack joins the picker and is loaded (the pack loader follows packId).
      s.addImportedPack({ id: msg.name, title: msg.title, url: msg.packUrl });
      s.setParam('packId', msg.name);
      return 'none';
    case 'importError':
      if (msg.importId === s.importId) s.importFailed(msg.message);
      return 'none';
    case 'deviceLost':
      s.addNotice('error', `${capitalize(msg.message)}. Reloading the pack on WebAssembly (CPU).`);
      if (s.runState === 'running') s.runFailed('the GPU device was lost during the run');
      return 'restartWorker';
    default:
      return assertNever(msg);
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
