// One ORT run at a time: concurrent Session.run calls on one WebGPU device crash
// (onnxruntime#32561), so warm-up, U-Net and classifier runs all queue here.

export interface SerialQueue {
  run<T>(task: () => Promise<T>): Promise<T>;
}

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      const result = tail.then(task);
      tail = result.catch(() => undefined); // a failed task must not block the next one
      return result;
    },
  };
}
