// One image, and the instruments of classifier guidance beside it: where the guidance term pushes
// (heat map), how large the gradient is, and how strongly the classifier already sees the class.
import { CanvasView } from './CanvasView';
import { GradNormChart } from './GradNormChart';
import { GuidanceHeatmap } from './GuidanceHeatmap';
import { LogpChart } from './LogpChart';

export function SingleView() {
  return (
    <div className="single-view">
      <div className="single-row">
        <CanvasView />
        <GuidanceHeatmap />
      </div>
      <div className="charts">
        <LogpChart />
        <GradNormChart />
      </div>
    </div>
  );
}
