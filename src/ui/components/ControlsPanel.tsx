// All inputs of a run plus Generate / Stop. Each control writes one store field.
import { useId } from 'react';
import { modeUses } from '../../shared/manifest';
import { LIMITS, type PreviewOf, type Sampler } from '../../shared/protocol';
import { useApp } from '../store/store';
import { CfgSlider } from './CfgSlider';
import { ClassPicker } from './ClassPicker';
import { GradientAtPicker } from './GradientAtPicker';
import { GuidanceModePicker } from './GuidanceModePicker';
import { GuidanceSlider } from './GuidanceSlider';
import { NumberField } from './NumberField';
import { UpsampleToggle } from './UpsampleToggle';

interface Props {
  onGenerate: () => void;
  onStop: () => void;
}

const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0];
const isSampler = (v: string): v is Sampler => v === 'ddim' || v === 'ddpm';
const isPreview = (v: string): v is PreviewOf => v === 'x' || v === 'predX0';

export function ControlsPanel({ onGenerate, onStop }: Props) {
  const ids = { sampler: useId(), preview: useId(), cond: useId() };
  const steps = useApp((s) => s.params.steps);
  const sampler = useApp((s) => s.params.sampler);
  const seed = useApp((s) => s.params.seed);
  const conditionUnet = useApp((s) => s.params.conditionUnet);
  const previewOf = useApp((s) => s.params.previewOf);
  const mode = useApp((s) => s.params.guidanceMode);
  const uses = modeUses(mode);
  // The sweep brings its own rows of scales and the diversity view its two scales (the CFG slider
  // stays for "both", where w is shared by both grids).
  const view = useApp((s) => s.params.view);
  const setParam = useApp((s) => s.setParam);
  const ready = useApp((s) => s.packStatus === 'ready');
  const running = useApp((s) => s.runState === 'running');
  const maxSteps = useApp((s) => s.manifest?.diffusion.diffusionSteps ?? LIMITS.steps.max);
  // The toggle only makes sense for a class-conditional U-Net trained with label dropout.
  const canUncond = useApp((s) => s.manifest !== null && s.manifest.classCond && s.manifest.unconditionalLabel !== null);

  return (
    <form
      className="controls"
      aria-label="Sampling controls"
      onSubmit={(e) => {
        e.preventDefault();
        onGenerate();
      }}
    >
      <ClassPicker />
      {view !== 'sweep' && <GuidanceModePicker />}
      {view === 'single' && uses.classifier && <GuidanceSlider />}
      {(view === 'single' ? uses.cfg : view === 'diversity' && mode === 'both') && <CfgSlider />}
      {(view === 'sweep' || uses.classifier) && <GradientAtPicker />}
      <NumberField label="Steps" value={steps} min={1} max={maxSteps} onCommit={(v) => setParam('steps', v)} />
      <div className="field">
        <label htmlFor={ids.sampler}>Sampler</label>
        <select id={ids.sampler} value={sampler} onChange={(e) => isSampler(e.target.value) && setParam('sampler', e.target.value)}>
          <option value="ddim">DDIM (deterministic)</option>
          <option value="ddpm">DDPM (ancestral)</option>
        </select>
      </div>
      <div className="seed-row">
        <NumberField label="Seed" value={seed} min={LIMITS.seed.min} max={LIMITS.seed.max} onCommit={(v) => setParam('seed', v)} />
        <button type="button" onClick={() => setParam('seed', randomSeed())}>
          New seed
        </button>
      </div>
      <div className="field check">
        <input
          id={ids.cond}
          type="checkbox"
          checked={conditionUnet || !canUncond || uses.cfg}
          disabled={!canUncond || uses.cfg}
          onChange={(e) => setParam('conditionUnet', e.target.checked)}
        />
        <label htmlFor={ids.cond}>Condition the U-Net on the class</label>
        {!conditionUnet && canUncond && !uses.cfg && <span className="hint">Only the classifier steers.</span>}
        {uses.cfg && canUncond && <span className="hint">Classifier-free guidance always conditions one branch on the class.</span>}
      </div>
      <UpsampleToggle />
      <div className="field">
        <label htmlFor={ids.preview}>Show</label>
        <select id={ids.preview} value={previewOf} onChange={(e) => isPreview(e.target.value) && setParam('previewOf', e.target.value)}>
          <option value="predX0">predicted x₀</option>
          <option value="x">noisy xₜ</option>
        </select>
      </div>
      <div className="buttons">
        <button type="submit" className="primary" disabled={!ready}>
          Generate
        </button>
        <button type="button" onClick={onStop} disabled={!running}>
          Stop
        </button>
      </div>
    </form>
  );
}
