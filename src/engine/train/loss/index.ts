/**
 * The training objective chosen by `loss_type`, as one function of a batch's
 * embeddings. Everything here is differentiable with tf.grads.
 */
import type { Tensor2D } from '../../backend/tf';
import type { TrainConfig } from '../../../shared/config/schema';
import type { Scalar } from '../../backend/tf';
import type { BatchLabels } from './common';
import { infoNceLoss } from './infonce';
import { tripletLoss } from './triplet';

export { checkLabelCount, NORM_EPS, type BatchLabels } from './common';
export { checkTemperature, infoNceLoss, infoNceWeights, type InfoNceOptions } from './infonce';
export { tripletLoss, type TripletOptions } from './triplet';

export type LossConfig = Pick<TrainConfig, 'loss_type' | 'temperature' | 'triplet_margin'>;

/** The scalar loss of a batch of (query, positive) embedding pairs. */
export function embeddingLoss(
  config: LossConfig,
  queries: Tensor2D,
  positives: Tensor2D,
  labels?: BatchLabels,
): Scalar {
  switch (config.loss_type) {
    case 'infonce':
      return infoNceLoss(queries, positives, { temperature: config.temperature, labels });
    case 'triplet':
      return tripletLoss(queries, positives, { margin: config.triplet_margin, labels });
    default:
      throw new Error(`loss_type '${String(config.loss_type)}' is not implemented; use 'infonce' or 'triplet'.`);
  }
}
