/** Every `vembed` subcommand, in the order `vembed --help` lists them. */
import type { Command } from '../command';
import { notYetImplemented } from '../command';
import { validateCommand } from './validate';
import { doctorCommand } from './doctor';
import { benchmarkCompareCommand } from './benchmarkCompare';
import { trainCommand } from './train';
import { embedCommand } from './embed';
import { prepareSopCommand } from './prepareSop';
import { sampleDataCommand } from './sampleData';

export const COMMANDS: readonly Command[] = [
  trainCommand,
  validateCommand,
  prepareSopCommand,
  sampleDataCommand,
  notYetImplemented('benchmark sop', 'Recall@K and MAP@R on the SOP test split', 'issue #5', '--model_path DIR_OR_ID --sop_root DIR'),
  benchmarkCompareCommand,
  embedCommand,
  notYetImplemented('index build', 'Build a searchable image index', 'issue #5'),
  notYetImplemented('search', 'Find the nearest images in an index', 'issue #5', '--index DIR --image FILE'),
  doctorCommand,
];
