// The status line while a pack loads: percent, speed, time left, a resumed download, the stages.
import { describe, expect, it } from 'vitest';
import { formatDuration, statusText } from '../../../src/ui/components/StatusBar';
import { createAppStore } from '../../../src/ui/store/store';

function loading() {
  const store = createAppStore();
  store.getState().loadStarted(1);
  return store;
}

describe('statusText while loading', () => {
  it('shows speed and time left of a download, and where a resumed one continued', () => {
    const store = loading();
    store.getState().loadProgress({ file: 'unet.onnx', loaded: 450e6, total: 1400e6, fromCache: false, bytesPerSec: 10.5e6, etaSec: 95, resumedAt: 300e6 });
    expect(statusText(store.getState())).toBe('Loading pack: 32% (unet.onnx, 450.0 of 1400.0 MB, resumed at 300.0 MB, 10.5 MB/s, 1 min 35 s left)');
  });

  it('says when bytes come from storage, and names the stages after the downloads', () => {
    const store = loading();
    store.getState().loadProgress({ file: 'unet.onnx', loaded: 5e6, total: 20e6, fromCache: true });
    expect(statusText(store.getState())).toBe('Loading pack: 25% (unet.onnx, 5.00 of 20.0 MB, from storage)');
    store.getState().loadStageChanged('sessions');
    expect(statusText(store.getState())).toBe('Loading pack: creating the ONNX Runtime sessions…');
    store.getState().loadStageChanged('warmup');
    expect(statusText(store.getState())).toBe('Loading pack: preparing the models (warm-up run)…');
  });

  it('formats durations', () => {
    expect([formatDuration(0.4), formatDuration(59), formatDuration(61), formatDuration(3725)]).toEqual(['0 s', '59 s', '1 min 1 s', '1 h 2 min']);
  });
});
