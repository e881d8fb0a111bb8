// Frames bypass React: the worker client publishes here, the canvas subscribes and paints.
// Keeps only the newest frame (latest wins); nothing accumulates.
import type { GenerateParams } from '../shared/protocol';

export interface Frame {
  runId: number;
  step: number;
  width: number;
  height: number;
  rgba: Uint8ClampedArray<ArrayBuffer>;
  /** The params of the run that painted this frame (Save PNG names the file after them). */
  params?: GenerateParams;
}

export type FrameListener = (frame: Frame) => void;

export interface FrameBus {
  publish(frame: Frame): void;
  subscribe(listener: FrameListener): () => void;
  latest(): Frame | null;
}

export function createFrameBus(): FrameBus {
  let last: Frame | null = null;
  const listeners = new Set<FrameListener>();
  return {
    publish(frame) {
      last = frame;
      for (const l of listeners) l(frame);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    latest: () => last,
  };
}

export const frameBus = createFrameBus();
