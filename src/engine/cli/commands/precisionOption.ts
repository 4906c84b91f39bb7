/** `vembed export onnx --precision` (the pass itself: onnx/precision.ts). */
import { PRECISIONS, type Precision } from '../../onnx/precision';
import { UsageError, type OptionSpec } from '../args';

/** `vembed export onnx --precision`. */
export const PRECISION_OPTION = {
  name: 'precision',
  type: 'string',
  metavar: PRECISIONS.join('|'),
  default: 'fp32',
  description:
    'fp32 (default); fp16: weights and compute in float16 (half the file); int8: weights quantized per channel, ' +
    'activations quantized dynamically (a quarter of the file, faster on CPUs). Input and output stay float32.',
} as const satisfies OptionSpec;

export function precisionFrom(value: unknown): Precision {
  const v = String(value ?? 'fp32');
  if ((PRECISIONS as readonly string[]).includes(v)) return v as Precision;
  throw new UsageError(`--precision must be one of ${PRECISIONS.join(', ')}, got \`${v}\``);
}
