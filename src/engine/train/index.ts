/** The training core: losses, optimizer, schedules, clipping, gradient cache, one step, checkpoint state. */
export {
  embeddingLoss,
  infoNceLoss,
  tripletLoss,
  type BatchLabels,
  type LossConfig,
  type InfoNceOptions,
  type TripletOptions,
} from './loss';
export { AdamW, type AdamWOptions, type OptimizerState, type ParamState } from './optim/adamw';
export { isExcludedFromWeightDecay } from './optim/weightDecay';
export {
  learningRateAt,
  resolveWarmupSteps,
  scheduleFactor,
  scheduleFromConfig,
  type ScheduleConfig,
  type ScheduleSpec,
  type SchedulerType,
} from './optim/schedule';
export { globalGradNorm, gradClipping, type ClipResult } from './optim/clip';
export {
  cachedGradients,
  plainGradients,
  batchSize,
  type BatchGradients,
  type GradientOptions,
  type PairBatch,
} from './gradients';
export { chunkRanges, uploadChunk, type ChunkedPixels, type PixelSource } from './pixels';
export { chunkDropoutSeed, type PairSide } from './seeds';
export { trainStep, trainStepParallel, type TrainStepConfig, type TrainStepInput, type TrainStepResult } from './step';
export { GradientLanes, gradientWorkerCount } from './parallel/lanes';
export { NonFiniteTrainingError } from './errors';
export {
  checkpointName,
  parseCheckpointName,
  saveCheckpoint,
  verifyCheckpoint,
  loadCheckpoint,
  listCheckpoints,
  findLatestCheckpoint,
  removeStaleCheckpointTemps,
  CheckpointError,
  type CheckpointContents,
  type CheckpointInfo,
  type CheckpointKind,
  type CheckpointListing,
  type LoadedCheckpoint,
} from './checkpoint/checkpoint';
export { configHash, KEYS_OUTSIDE_CONFIG_HASH } from './checkpoint/configHash';
export {
  OPTIMIZER_FILE,
  readOptimizerState,
  writeOptimizerState,
  type OptimizerHyper,
} from './checkpoint/optimizerFile';
export {
  TRAINER_STATE_FILE,
  LOSS_HISTORY_TAIL,
  appendLossHistory,
  parseTrainerState,
  serializeTrainerState,
  TrainerStateError,
  type LossRecord,
  type TrainerState,
  type TrainerStateFile,
} from './checkpoint/trainerState';
