// Public surface of the pure sampling layer (no onnxruntime, no DOM).

export type { Shape4, DenoiseFn, ClassifierGradFn, ClassifierGradResult, ModelVarType } from './types';
export { getNamedBetaSchedule, betasForAlphaBar, isNoiseSchedule, COSINE_MAX_BETA } from './schedule';
export { spaceTimesteps, respaceBetas, roundHalfEven } from './respace';
export type { DiffusionProcess, ProcessParams } from './process';
export { createProcess, createProcessForPack, processFromBetas } from './process';
export type { MeanVariance } from './step';
export {
  allocMeanVariance, pMeanVariance, pMeanVarianceInto, conditionMean, conditionScore,
  pSample, pSampleInto, ddimSample, ddimSampleInto,
} from './step';
export type { GaussianRng } from './rng';
export { createGaussianRng } from './rng';
export type { RgbaImage } from './image';
export { toRgba, gridRgba } from './image';
export type { NonFiniteSource, StepAt } from './finite';
export { NonFiniteError } from './finite';
export type { StepLoopOptions, StepRecord } from './loop';
export { stepLoop } from './loop';
export type { GuidanceOptions, GuidedModel, GuidedStep, StepContext } from './guided';
export { guidedModel } from './guided';
export type { CfgDenoiser, CfgOutput } from './cfgDenoiser';
export { cfgDenoiser } from './cfgDenoiser';
export type { ClassifierGuide } from './classifierGuide';
export { classifierGuide } from './classifierGuide';
export type { SampleOptions } from './sampleLoop';
export { sampleLoop, sampleToEnd } from './sampleLoop';
export type { GuidanceScale, GuidanceScales, GuidanceInterval } from './cfg';
export { cfgCombine, cfgCombineInto, scalesPerSample, inGuidanceInterval, checkGuidanceInterval } from './cfg';
export { guidanceHeatInto, sampleL2Norm } from './instruments';
export { meanPairwiseRms, meanPairwiseL2, softmaxRows } from './diversity';
export type { UpsampleOptions } from './cascade';
export { UPSAMPLE_STREAM, quantizeLowRes, upsamplerProcess, upsampleLoop } from './cascade';
export type { PrecisionRecall } from './precisionRecall';
export { kthNeighbourRadii, pickRows, precisionRecall } from './precisionRecall';
