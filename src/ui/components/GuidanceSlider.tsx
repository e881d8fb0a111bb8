// Classifier guidance scale s: the gradient of log p(y|x_t) is multiplied by s.
import { useApp } from '../store/store';
import { ScaleSlider } from './ScaleSlider';

export function GuidanceSlider() {
  const guided = useApp((s) => s.manifest === null || s.manifest.classifierGrad !== undefined);
  return (
    <ScaleSlider kind="classifierScale" label="Guidance scale" name="Guidance scale" digits={1} disabled={!guided}
      hint={guided ? null : 'This pack has no classifier, so it cannot be guided.'} />
  );
}
