/** The extension's commands: ids and titles live in package.json; this maps ids to handlers. */
export const COMMAND_IDS = {
  train: 'vembed.train',
  stop: 'vembed.stop',
  resume: 'vembed.resume',
  evaluate: 'vembed.evaluate',
  prepareSop: 'vembed.prepareSop',
  openResults: 'vembed.openResults',
  findSimilar: 'vembed.findSimilar',
  validateConfig: 'vembed.validateConfig',
  showLog: 'vembed.showLog',
  doctor: 'vembed.doctor',
  installGpuBackend: 'vembed.installGpuBackend',
} as const;

export type CommandId = (typeof COMMAND_IDS)[keyof typeof COMMAND_IDS];

/** Commands whose implementation has not landed yet, and the issue that tracks each. */
export const PENDING_COMMANDS: Partial<Record<CommandId, string>> = {
  [COMMAND_IDS.train]: 'issue #7 (training from VS Code)',
  [COMMAND_IDS.stop]: 'issue #7',
  [COMMAND_IDS.resume]: 'issue #7',
  [COMMAND_IDS.evaluate]: 'issue #7',
  [COMMAND_IDS.prepareSop]: 'issue #7',
  [COMMAND_IDS.openResults]: 'issue #8 (results panel)',
  [COMMAND_IDS.findSimilar]: 'issue #8',
  [COMMAND_IDS.doctor]: 'issue #7',
  [COMMAND_IDS.installGpuBackend]: 'issue #7',
};
