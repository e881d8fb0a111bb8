// 20 consecutive runs must not grow memory: the worker's JS heap (after a forced GC, via CDP)
// and the renderer process' resident memory (which includes ONNX Runtime's wasm heap).
import { readFileSync } from 'node:fs';
import type { Browser, CDPSession } from '@playwright/test';
import { expect, generate, test, waitReady } from './fixtures';

/** Sends CDP commands to the app's dedicated worker through the browser session. */
async function workerSession(browser: Browser): Promise<{ call: (method: string) => Promise<Record<string, number>>; cdp: CDPSession }> {
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const worker = targetInfos.find((t) => t.type === 'worker' && /\/assets\/main-[\w-]+\.js$/.test(t.url));
  if (!worker) throw new Error(`app worker not found among ${targetInfos.map((t) => t.url).join(', ')}`);
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: worker.targetId, flatten: false });
  let id = 0;
  const waiting = new Map<number, (r: Record<string, number>) => void>();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message) as { id?: number; result?: Record<string, number> };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result ?? {});
  });
  const call = (method: string) =>
    new Promise<Record<string, number>>((resolve) => {
      waiting.set(++id, resolve);
      void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method }) });
    });
  return { call, cdp };
}

async function rendererRssKb(cdp: CDPSession): Promise<number> {
  const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: { type: string; id: number }[] };
  let kb = 0;
  for (const p of processInfo.filter((q) => q.type === 'renderer')) {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.id}/status`, 'utf8'));
    kb += m ? Number(m[1]) : 0;
  }
  return kb;
}

test('memory does not grow over 20 consecutive runs', async ({ page, browser }) => {
  await page.goto('./?pack=tiny16&ep=wasm&steps=10');
  await waitReady(page);
  const { call, cdp } = await workerSession(browser);
  const measure = async () => {
    await call('HeapProfiler.collectGarbage');
    return { heap: (await call('Runtime.getHeapUsage')).usedSize, rss: await rendererRssKb(cdp) };
  };
  const seed = page.getByRole('spinbutton', { name: 'Seed' });
  let warm = { heap: 0, rss: 0 };
  for (let run = 1; run <= 20; run++) {
    await seed.fill(String(run));
    await generate(page, /Done .*step 10 \/ 10/);
    if (run === 5) warm = await measure(); // after warm-up: JIT, ORT arenas and caches have settled
  }
  const end = await measure();
  console.log(`worker heap ${warm.heap} -> ${end.heap} bytes; renderer RSS ${warm.rss} -> ${end.rss} kB`);
  expect(end.heap).toBeLessThan(warm.heap + 1_000_000);
  expect(end.rss).toBeLessThan(warm.rss * 1.15 + 20_000);
});
