// Page instrumentation of the full-app runs: a script that runs in the page before any of its own, and
// records main-thread long tasks (PerformanceObserver 'longtask') and the time each "step k / N" status
// first appeared (MutationObserver), into window.__bench.
// A plain string: tsx (esbuild keepNames) would wrap a serialized function's inner functions in a
// __name() helper that the page does not have.

export const PAGE_INSTRUMENTATION = `(() => {
  const b = (window.__bench = { longTasks: [], steps: {}, total: 0 });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) {}
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[role="status"]')) {
      const m = (el.textContent || '').match(/^(Generating|Done).*step (\\d+) \\/ (\\d+)/);
      if (!m) continue;
      const k = Number(m[2]);
      if (k > 0 && !(k in b.steps)) b.steps[k] = performance.now();
      b.total = Number(m[3]);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();`;

/** What PAGE_INSTRUMENTATION leaves in window.__bench (page clock, ms). */
export interface PageBench {
  /** Step k -> when "step k / N" first showed. */
  steps: Record<number, number>;
  longTasks: { start: number; duration: number }[];
  /** N of the last status seen. */
  total: number;
}
