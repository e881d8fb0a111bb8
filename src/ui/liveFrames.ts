// Grid and guidance heat-map frames bypass React like the sample frames (frames.ts): the worker
// client publishes them, each canvas paints the newest in its next animation frame. One bus per
// grid view, so a sweep stays on screen while a diversity run streams, and back.
import type { GenerateParams } from '../shared/protocol';

export interface GridFrame {
  runId: number;
  step: number;
  width: number;
  height: number;
  cells: number;
  /** The cells' RGBA images back to back (cell k from byte k·width·height·4). */
  rgba: Uint8ClampedArray<ArrayBuffer>;
  /** The run's params (Save PNG names the file after them). */
  params?: GenerateParams;
}

export interface HeatFrame {
  runId: number;
  step: number;
  width: number;
  height: number;
  /** Σ_c |s·Σ·∇ₓ log p| per pixel, row-major. */
  heat: Float32Array<ArrayBuffer>;
  max: number;
}

export interface LatestBus<T> {
  publish(value: T): void;
  subscribe(listener: (value: T) => void): () => void;
  latest(): T | null;
  /** Forgets the newest value (a new run starts with empty canvases). */
  clear(): void;
}

export function createLatestBus<T>(): LatestBus<T> {
  let last: T | null = null;
  const listeners = new Set<(value: T) => void>();
  return {
    publish(value) {
      last = value;
      for (const l of listeners) l(value);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    latest: () => last,
    clear: () => {
      last = null;
    },
  };
}

export type GridView = 'sweep' | 'diversity' | 'tradeoff';

export interface LiveBuses {
  grid: Record<GridView, LatestBus<GridFrame>>;
  heat: LatestBus<HeatFrame>;
}

export function createLiveBuses(): LiveBuses {
  return { grid: { sweep: createLatestBus(), diversity: createLatestBus(), tradeoff: createLatestBus() }, heat: createLatestBus() };
}

export const liveBuses = createLiveBuses();
