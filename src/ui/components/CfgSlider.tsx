// Classifier-free guidance scale w: ε̂ = ε(x, y) + w·(ε(x, y) − ε(x, ∅)).
import { useApp } from '../store/store';
import { ScaleSlider } from './ScaleSlider';

export function CfgSlider() {
  const interval = useApp((s) => s.params.guidanceInterval);
  return (
    <ScaleSlider kind="cfgScale" label="CFG scale w" name="CFG scale" digits={2}
      hint={interval ? `Guidance only for timesteps ${interval[0]}–${interval[1]} (URL gi).` : null} />
  );
}
