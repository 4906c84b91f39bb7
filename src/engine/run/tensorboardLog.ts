/**
 * A training run's metrics as TensorBoard scalars, from the same events that
 * go to events.jsonl: loss and learning rate per step, the epoch's mean
 * loss, and every evaluation's Recall@K and MAP@R. All are plotted against
 * the global step (the epoch-0 evaluation, before training, at step 0), so
 * `tensorboard --logdir runs/` lines this run up with the user's others.
 */
import type { EngineEvent } from '../../shared/protocol';
import { TfEventFile, scalarsEvent, type Scalar } from '../report/tfEvents';

export const TAGS = {
  loss: 'train/loss',
  learningRate: 'train/learning_rate',
  gradNorm: 'train/grad_norm',
  imagesPerSecond: 'train/images_per_second',
  epochMeanLoss: 'train/epoch_mean_loss',
  /** `eval/recall@1`, `eval/map@r`; a split other than val gets its own prefix (`test/recall@1`). */
  metric: (split: string, name: string) => `${split === 'val' ? 'eval' : split}/${name}`,
} as const;

/** The scalars an event carries, or none. */
export function scalarsOf(e: EngineEvent): { step: number; scalars: Scalar[] } | undefined {
  switch (e.type) {
    case 'step': {
      const scalars: Scalar[] = [
        { tag: TAGS.loss, value: e.loss },
        { tag: TAGS.learningRate, value: e.lr },
      ];
      if (e.gradNorm !== undefined) scalars.push({ tag: TAGS.gradNorm, value: e.gradNorm });
      if (e.imagesPerSecond !== undefined) scalars.push({ tag: TAGS.imagesPerSecond, value: e.imagesPerSecond });
      return { step: e.step, scalars };
    }
    case 'epoch':
      return { step: e.step, scalars: [{ tag: TAGS.epochMeanLoss, value: e.meanLoss }] };
    case 'evaluation':
      return {
        step: e.step,
        scalars: Object.entries(e.metrics).map(([name, value]) => ({ tag: TAGS.metric(e.split, name), value })),
      };
    default:
      return undefined;
  }
}

/** Writes a run's scalars into a new event file in its output_dir (a resumed run: another file beside it). */
export class TensorBoardLog {
  private readonly out: TfEventFile;

  constructor(outputDir: string) {
    this.out = new TfEventFile(outputDir);
  }

  get file(): string {
    return this.out.file;
  }

  write(e: EngineEvent): void {
    const s = scalarsOf(e);
    if (s && s.scalars.length > 0) this.out.append(scalarsEvent(Date.parse(e.time) / 1000, s.step, s.scalars));
  }

  close(): void {
    this.out.close();
  }
}
