// The sample canvas. Frames come from the frame bus, not React state: each frame is painted in
// the next animation frame, newest wins. Upscaled with nearest neighbour (CSS pixelated).
import { useEffect, useRef, useState } from 'react';
import { downloadCanvas } from '../download';
import { frameBus, type Frame } from '../frames';
import { pngFileName } from '../pngName';
import { useApp } from '../store/store';

function paint(canvas: HTMLCanvasElement, frame: Frame): void {
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    canvas.width = frame.width;
    canvas.height = frame.height;
  }
  const ctx = canvas.getContext('2d');
  ctx?.putImageData(new ImageData(frame.rgba, frame.width, frame.height), 0, 0);
  // Which frame is on screen ("runId:step"): painting lags the status by up to one animation frame.
  canvas.dataset.painted = `${frame.runId}:${frame.step}`;
}

function savePng(canvas: HTMLCanvasElement): void {
  // Named after the run that painted the frame on the canvas, not after the controls.
  const params = frameBus.latest()?.params;
  downloadCanvas(canvas, params ? pngFileName(params) : 'sample.png');
}

export function CanvasView() {
  const ref = useRef<HTMLCanvasElement>(null);
  const [hasImage, setHasImage] = useState(false);
  const size = useApp((s) => s.manifest?.imageSize ?? 64);
  const running = useApp((s) => s.runState === 'running');

  useEffect(() => {
    let pending: Frame | null = frameBus.latest();
    let raf = 0;
    const flush = () => {
      raf = 0;
      if (pending && ref.current) paint(ref.current, pending);
      pending = null;
    };
    flush();
    const unsubscribe = frameBus.subscribe((f) => {
      pending = f;
      if (!raf) raf = requestAnimationFrame(flush);
    });
    setHasImage(frameBus.latest() !== null);
    const unsubHas = frameBus.subscribe(() => setHasImage(true));
    return () => {
      unsubscribe();
      unsubHas();
      if (raf) cancelAnimationFrame(raf);
    };
  }, []);

  return (
    <figure className="canvas-view">
      <canvas
        ref={ref}
        width={size}
        height={size}
        role="img"
        aria-label="Sample"
        className={running ? 'running' : undefined}
      />
      <figcaption>
        <button type="button" disabled={!hasImage || running} onClick={() => ref.current && savePng(ref.current)}>
          Save PNG
        </button>
      </figcaption>
    </figure>
  );
}
