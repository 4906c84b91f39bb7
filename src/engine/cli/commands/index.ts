/** Every `vembed` subcommand, in the order `vembed --help` lists them. */
import type { Command } from '../command';
import { validateCommand } from './validate';
import { doctorCommand } from './doctor';
import { benchmarkCompareCommand } from './benchmarkCompare';
import { benchmarkMapCommand } from './benchmarkMap';
import { trainCommand } from './train';
import { embedCommand } from './embed';
import { benchmarkSopCommand } from './benchmarkSop';
import { indexBuildCommand, searchCommand } from './indexSearch';
import { prepareSopCommand } from './prepareSop';
import { prepareDataCommand } from './prepareData';
import { checkDataCommand } from './checkData';
import { sampleDataCommand } from './sampleData';
import { exportOnnxCommand } from './exportOnnx';
import { compareCommand } from './compare';

export const COMMANDS: readonly Command[] = [
  trainCommand,
  validateCommand,
  prepareSopCommand,
  prepareDataCommand,
  checkDataCommand,
  sampleDataCommand,
  benchmarkSopCommand,
  benchmarkCompareCommand,
  benchmarkMapCommand,
  compareCommand,
  embedCommand,
  indexBuildCommand,
  searchCommand,
  exportOnnxCommand,
  doctorCommand,
];
