// The run planner (pure: no onnxruntime, no DOM), shared by the worker (src/worker/run) and the CLI
// (tools/sample.ts): labels, guidance modes and scales, grids, and the base-then-upsampler sequence.
export type { BasePlan, RunPlan } from './plan';
export { planRun, respacingFor } from './runPlan';
export { planGrid } from './gridPlan';
export type { ModeUses } from './guidance';
export { appliedScales, checkModeForPack, checkScale, checkedMode } from './guidance';
export type { RowLabelOptions, RowLabels } from './labels';
export { packLabel, rowLabels } from './labels';
export type { CliGuidance, CliGuidanceRequest } from './cliGuidance';
export { resolveCliGuidance } from './cliGuidance';
export type { CascadeStage, StageRecord, UpsampleRun } from './stages';
export { baseThenUpsample, planCascade } from './stages';
