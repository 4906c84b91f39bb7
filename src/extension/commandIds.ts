/** The extension's commands: ids and titles live in package.json; this maps ids to handlers. */
export const COMMAND_IDS = {
  train: 'vembed.train',
  trainWith: 'vembed.trainWith',
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
