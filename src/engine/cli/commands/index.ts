/** Every `vembed` subcommand, in the order `vembed --help` lists them. */
import type { Command } from '../command';
import { notYetImplemented } from '../command';
import { validateCommand } from './validate';
import { doctorCommand } from './doctor';

export const COMMANDS: readonly Command[] = [
  notYetImplemented('train', 'Fine-tune a model on a config', 'issue #4', '--config FILE [--set key=value ...]'),
  validateCommand,
  notYetImplemented('prepare-sop', 'Turn Stanford Online Products into train.jsonl / val.jsonl', 'issue #3', '--sop_root DIR [--seed N]'),
  notYetImplemented('sample-data', 'Install the built-in sample data set', 'issue #3'),
  notYetImplemented('benchmark sop', 'Recall@K and MAP@R on the SOP test split', 'issue #5', '--model_path DIR_OR_ID --sop_root DIR'),
  notYetImplemented('benchmark compare', 'Before/after table of two reports', 'issue #5', 'BEFORE_REPORT AFTER_REPORT'),
  notYetImplemented('embed', 'Embed images into a .npy file', 'issue #11', '--model DIR_OR_ID --out FILE.npy IMAGE...'),
  notYetImplemented('index build', 'Build a searchable image index', 'issue #5'),
  notYetImplemented('search', 'Find the nearest images in an index', 'issue #5', '--index DIR --image FILE'),
  doctorCommand,
];
