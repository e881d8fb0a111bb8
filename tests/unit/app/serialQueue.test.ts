import { describe, expect, it } from 'vitest';
import { createSerialQueue } from '../../../src/worker/runtime/serialQueue';
import { macrotask } from './fakes';

describe('serial queue', () => {
  it('never overlaps two tasks, keeps order, and survives a failing task', async () => {
    const q = createSerialQueue();
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    const task = (i: number, fail = false) => async () => {
      maxRunning = Math.max(maxRunning, ++running);
      await macrotask();
      order.push(i);
      running--;
      if (fail) throw new Error(`task ${i}`);
      return i;
    };
    const results = await Promise.allSettled([q.run(task(1)), q.run(task(2, true)), q.run(task(3))]);
    expect(maxRunning).toBe(1);
    expect(order).toEqual([1, 2, 3]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});
