/**
 * Saving a run's checkpoints: the model (adapter or full weights), the
 * optimizer's moments and the trainer state a resume needs, written
 * atomically (train/checkpoint), then announced as a `checkpoint` event.
 */
import type { TrainConfig } from '../../../shared/config/schema';
import type { Reporter } from '../../report/reporter';
import { saveAdapter, saveFullModel, type AdapterLayout, type Dinov2ImageEncoder } from '../../model';
import { checkpointName, configHash, saveCheckpoint, type AdamW, type LossRecord } from '../../train';

/** Why a checkpoint is written: every save_steps, at an epoch's end, or on a stop. */
export type CheckpointKind = 'step' | 'epoch' | 'stop';

/** The state of the run a checkpoint records. */
export interface RunPosition {
  globalStep: number;
  totalSteps: number;
  history: LossRecord[];
}

export class Checkpointer {
  /** The newest complete checkpoint (the resumed one until the first save). */
  last: string | undefined;

  constructor(
    private readonly config: TrainConfig,
    private readonly encoder: Dinov2ImageEncoder,
    private readonly optimizer: AdamW,
    private readonly reporter: Reporter,
    resumedFrom: string | undefined,
  ) {
    this.last = resumedFrom;
  }

  /**
   * Saves at `epoch` (0-based, the epoch in progress; for 'epoch' the number of
   * epochs done) with `positionInEpoch` pairs of it done.
   */
  save(kind: CheckpointKind, epoch: number, positionInEpoch: number, run: RunPosition): string {
    const { config, encoder } = this;
    const name = kind === 'epoch' ? checkpointName('epoch', epoch) : checkpointName('step', run.globalStep);
    const dir = saveCheckpoint(config.output_dir, name, {
      trainerState: {
        globalStep: run.globalStep,
        epoch,
        positionInEpoch,
        totalSteps: run.totalSteps,
        rngStates: {},
        configHash: configHash(config),
        lossHistory: run.history,
        savedAt: new Date().toISOString(),
      },
      optimizerState: this.optimizer.exportState(),
      writeModel: (d) =>
        config.use_lora
          ? saveAdapter(encoder, d, {
              baseModelNameOrPath: config.model_name,
              layout: config.adapter_layout as AdapterLayout,
            })
          : saveFullModel(encoder, d),
    });
    this.last = dir;
    this.reporter.event({
      type: 'checkpoint',
      path: dir,
      step: run.globalStep,
      epoch: kind === 'epoch' ? epoch : epoch + 1,
      kind,
    });
    return dir;
  }
}
