// The read-out line under each diversity grid: live pixel L2 of the predicted x₀ while the run
// streams, the final pixel and classifier-softmax distances once it is done.
import type { GridRunInfo } from './store/gridSlice';

const fmt = (v: number) => v.toFixed(3);

/** One line per grid: live pixel L2 of the predicted x₀ while running, the final read-out after. */
export function diversityNotes(run: GridRunInfo | undefined): (string | null)[] {
  if (!run) return [];
  return run.layout.rows.map((row) => {
    const g = row.group ?? -1;
    const done = run.readout;
    if (done && done.pixelL2[g] !== undefined) {
      const cls = done.classifierL2?.[g];
      return `diversity: pixel L2 ${fmt(done.pixelL2[g])} (RMS, [−1, 1])${cls !== undefined ? ` · classifier softmax L2 ${fmt(cls)}` : ''}`;
    }
    const live = run.pixelDiversity[g];
    return live !== undefined ? `diversity: pixel L2 ${fmt(live)} (RMS of predicted x₀, step ${run.step})` : null;
  });
}

