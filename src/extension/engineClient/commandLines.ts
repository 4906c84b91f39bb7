/**
 * The `vembed` command lines the extension's commands run, spelled in one
 * place without `vscode`, so a test runs the very same arguments through the
 * real CLI (test/extension/command-lines.test.ts).
 */

export type DataLayout = 'folders' | 'csv';
export type OnnxPrecision = 'fp32' | 'fp16' | 'int8';

/** Prepare Data...: `vembed prepare-data --layout folders --root DIR | --layout csv --csv FILE`, into `out`. */
export function prepareDataArgs(layout: DataLayout, source: string, out: string): string[] {
  return ['prepare-data', '--layout', layout, layout === 'folders' ? '--root' : '--csv', source, '--out', out];
}

/** Export ONNX...: `vembed export onnx --model CKPT --out FILE --precision P`. */
export function exportOnnxArgs(checkpoint: string, out: string, precision: OnnxPrecision): string[] {
  return ['export', 'onnx', '--model', checkpoint, '--out', out, '--precision', precision];
}
