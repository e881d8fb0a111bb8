// A canvas that shows one run's newest frame of a bus, painted at most once per animation frame
// (the worker can publish faster than the screen refreshes; the frames never pass through React).
import { useEffect, useRef } from 'react';
import type { LatestBus } from '../liveFrames';

export interface RunFramePainter<F> {
  /** Draws a frame of this run. */
  paint(frame: F): void;
  /** No frame of this run yet (a new run, or none): blank what an earlier run left. */
  clear(): void;
}

/** Paints `runId`'s frames from `bus`: the stored one first, if it is this run's, then each new one. */
export function useRunFrames<F extends { runId: number }>(bus: LatestBus<F>, runId: number, painter: RunFramePainter<F>): void {
  // The painter closes over refs and setters of the component; the newest one is used.
  const painterRef = useRef(painter);
  painterRef.current = painter;
  useEffect(() => {
    const latest = bus.latest();
    let pending: F | null = latest?.runId === runId ? latest : null;
    if (!pending) painterRef.current.clear();
    let raf = 0;
    const flush = () => {
      raf = 0;
      if (pending) painterRef.current.paint(pending);
      pending = null;
    };
    flush();
    const unsubscribe = bus.subscribe((f) => {
      if (f.runId !== runId) return;
      pending = f;
      if (!raf) raf = requestAnimationFrame(flush);
    });
    return () => {
      unsubscribe();
      if (raf) cancelAnimationFrame(raf);
    };
  }, [bus, runId]);
}
