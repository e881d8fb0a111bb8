// What the user asked for: the inputs of the next run (mirrored in the URL).
import type { StateCreator } from 'zustand';
import {
  DEFAULTS, GRID_DEFAULTS, type EpChoice, type GenerateParams, type GradientAt, type GuidanceInterval, type GuidanceMode, type View,
} from '../../shared/protocol';
import type { AppState } from './store';

/** The next run's inputs (GenerateParams, the guidance fields required) plus where and how it runs. */
export interface Params extends Omit<GenerateParams, 'guidanceMode' | 'cfgScale' | 'guidanceInterval' | 'gradientAt' | 'grid' | 'upsample'> {
  guidanceMode: GuidanceMode;
  /** Run the pack's upsampler after the base model (single view; only where the pack has one). */
  upsample: boolean;
  cfgScale: number;
  /** null: guide at every step. */
  guidanceInterval: GuidanceInterval | null;
  gradientAt: GradientAt;
  /** Which view Generate fills (the grids are built from the fields below, see gridLayout). */
  view: View;
  /** Sweep: the classifier scales of the first row and the CFG scales of the second, one seed. */
  sweepScales: number[];
  sweepCfgScales: number[];
  /** Diversity: the two scales (one grid each) and the number of seeds per grid (seed, seed+1, ...). */
  diversityScales: number[];
  diversitySeeds: number;
  /** Trade-off: the scales (one row each) and the seeds per scale (seed, seed+1, ...). */
  tradeoffScales: number[];
  tradeoffSeeds: number;
  /** Pack id from models/index.json; '' until the index is read. */
  packId: string;
  ep: EpChoice;
  /** false (`?fp16=0`): the fp32 U-Net on WebGPU even where the fp16 one could run. */
  fp16: boolean;
}

export type ParamKey = keyof Params;

export interface ParamsSlice {
  params: Params;
  /** Params the user or the URL set; a newly loaded pack's recommended defaults leave these alone. */
  explicit: Partial<Record<ParamKey, true>>;
  setParam: <K extends ParamKey>(key: K, value: Params[K]) => void;
  /** Applies values without marking them explicit (pack defaults, fallbacks). */
  applyDefaults: (values: Partial<Params>) => void;
  /** Values from the URL: set and marked explicit. */
  applyUrl: (values: Partial<Params>) => void;
}

export const INITIAL_PARAMS: Params = {
  imagenetClass: 0,
  classifierScale: DEFAULTS.classifierScale,
  steps: DEFAULTS.steps,
  sampler: DEFAULTS.sampler,
  seed: DEFAULTS.seed,
  conditionUnet: DEFAULTS.conditionUnet,
  previewOf: DEFAULTS.previewOf,
  guidanceMode: DEFAULTS.guidanceMode,
  cfgScale: DEFAULTS.cfgScale,
  guidanceInterval: null,
  gradientAt: DEFAULTS.gradientAt,
  upsample: true,
  view: 'single',
  sweepScales: [...GRID_DEFAULTS.sweepScales],
  sweepCfgScales: [...GRID_DEFAULTS.sweepCfgScales],
  diversityScales: [...GRID_DEFAULTS.diversityScales],
  diversitySeeds: GRID_DEFAULTS.diversitySeeds,
  tradeoffScales: [...GRID_DEFAULTS.tradeoffScales],
  tradeoffSeeds: GRID_DEFAULTS.tradeoffSeeds,
  packId: '',
  ep: 'auto',
  fp16: true,
};

const markAll = (values: Partial<Params>) =>
  Object.fromEntries(Object.keys(values).map((k) => [k, true])) as Partial<Record<ParamKey, true>>;

export const createParamsSlice: StateCreator<AppState, [], [], ParamsSlice> = (set) => ({
  params: INITIAL_PARAMS,
  explicit: {},
  setParam: (key, value) =>
    set((s) => ({ params: { ...s.params, [key]: value }, explicit: { ...s.explicit, [key]: true } })),
  applyDefaults: (values) => set((s) => ({ params: { ...s.params, ...values } })),
  applyUrl: (values) => set((s) => ({ params: { ...s.params, ...values }, explicit: { ...s.explicit, ...markAll(values) } })),
});
