// Live heat map of the guidance term s·Σ·∇ₓ log p(y | xₜ): its magnitude per pixel, summed over the
// colour channels, each frame scaled to its own maximum. Painted from the heat bus in the next
// animation frame, outside React, like the sample canvas.
import { useRef, useState } from 'react';
import { heatToRgba } from '../heatColors';
import { liveBuses, type HeatFrame } from '../liveFrames';
import { useRunFrames } from '../hooks/useRunFrames';
import { useApp } from '../store/store';

function paint(canvas: HTMLCanvasElement, f: HeatFrame): void {
  if (canvas.width !== f.width || canvas.height !== f.height) {
    canvas.width = f.width;
    canvas.height = f.height;
  }
  const rgba = heatToRgba(f.heat, f.max, new Uint8ClampedArray(f.width * f.height * 4));
  canvas.getContext('2d')?.putImageData(new ImageData(rgba, f.width, f.height), 0, 0);
  canvas.dataset.painted = `${f.runId}:${f.step}`;
}

export function GuidanceHeatmap() {
  const ref = useRef<HTMLCanvasElement>(null);
  const size = useApp((s) => s.manifest?.imageSize ?? 64);
  const runId = useApp((s) => s.runId);
  const [max, setMax] = useState<number | null>(null);

  useRunFrames(liveBuses.heat, runId, {
    paint: (f) => {
      if (!ref.current) return;
      paint(ref.current, f);
      setMax(f.max);
    },
    clear: () => {
      const canvas = ref.current;
      if (!canvas) return;
      canvas.getContext('2d')?.clearRect(0, 0, canvas.width, canvas.height);
      delete canvas.dataset.painted;
      setMax(null);
    },
  });

  return (
    <figure className="heatmap">
      <canvas ref={ref} width={size} height={size} role="img" aria-label="Guidance heat map" />
      <figcaption>
        Guidance term |s·Σ·∇ₓ log p| per pixel (channel sum)
        {max !== null ? <>, max {max.toPrecision(3)}</> : <>: appears while the classifier guides.</>}
      </figcaption>
    </figure>
  );
}
