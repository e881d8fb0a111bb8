// The hashing thread of the pack worker (./hashJobs.ts): requests are handled strictly in order.
import { HashJobs, type HashRequest } from './hashJobs';

declare const self: DedicatedWorkerGlobalScope;

const jobs = new HashJobs();
let queue = Promise.resolve();
self.onmessage = (e: MessageEvent<HashRequest>) => {
  queue = queue.then(async () => {
    const reply = await jobs.handle(e.data);
    if (reply) self.postMessage(reply);
  });
};
