// The gradient worker's request handling, apart from the worker entry so that tests drive it with a
// fake port: one session, opened once; requests run in arrival order (ORT runs one at a time anyway);
// a failure answers that request with its message and leaves the worker serving.
import type { GradientReply, GradientRequest, GradientValue } from './gradientProtocol';
import { replyTransfer } from './gradientProtocol';
import type { GradientManifest, GradientSession } from './gradientSession';
import type { GraphBytes } from './ortSession';

export interface GradientPort {
  onmessage: ((e: MessageEvent<GradientRequest>) => void) | null;
  postMessage(msg: GradientReply, transfer: Transferable[]): void;
}

/** Creates the session with `threads` ORT threads in this worker's own instance. */
export type OpenGradient = (graph: GraphBytes, manifest: GradientManifest, threads: number) => Promise<GradientSession>;

export function serveGradient(port: GradientPort, open: OpenGradient): void {
  let session: GradientSession | null = null;
  let queue: Promise<void> = Promise.resolve();
  const handle = async (req: GradientRequest): Promise<GradientValue> => {
    switch (req.kind) {
      case 'open':
        if (session) throw new Error('the gradient session is already open');
        session = await open(req.graph, req.manifest, req.threads);
        return { kind: 'open' };
      case 'grad': {
        const r = await opened().classifierGrad(req.x, req.timesteps, req.y, req.shape);
        return { kind: 'grad', grad: r.grad, logp: r.logp };
      }
      case 'readout': {
        const r = await opened().classifierReadout(req.x, req.timesteps, req.y, req.shape);
        return { kind: 'readout', logits: r.logits, features: r.features };
      }
      case 'release':
        await session?.release();
        session = null;
        return { kind: 'release' };
    }
  };
  const opened = (): GradientSession => {
    if (!session) throw new Error('the gradient session is not open');
    return session;
  };
  port.onmessage = (e) => {
    const req = e.data;
    queue = queue.then(async () => {
      let reply: GradientReply;
      try {
        reply = { id: req.id, ok: true, value: await handle(req) };
      } catch (err) {
        reply = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      port.postMessage(reply, reply.ok ? replyTransfer(reply.value) : []);
    });
  };
}
