/**
 * The architecture invariants of README.md ("Architecture invariants"),
 * checked on the imports of every source file: a rule broken by a new import
 * fails here, naming the file, the import and the rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const SOURCE_DIRS = ['src', 'webview-ui/src'];

/** One import of a file: a package name, `node:*`, or a repository-relative path without extension. */
interface Import {
  spec: string;
  /** The resolved repository path (`src/engine/cli/command`) for relative imports; undefined for packages. */
  target?: string;
}

/** Static imports and re-exports, dynamic import() and require() with a string literal. */
const IMPORT_PATTERNS = [
  /^\s*(?:import|export)\s[^;]*?\sfrom\s*'([^']+)'/gms,
  /^\s*import\s*'([^']+)'/gm,
  /\bimport\(\s*'([^']+)'\s*\)/g,
  /\brequire(?:\.resolve)?\(\s*'([^']+)'/g,
];

function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  for (const pattern of IMPORT_PATTERNS) {
    for (const m of text.matchAll(pattern)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) {
        found.push({ spec });
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.(ts|js)$/, '');
      found.push({ spec, target });
    }
  }
  return found;
}

function sourceFiles(): Map<string, Import[]> {
  const files = new Map<string, Import[]>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
        files.set(rel.replace(/\.ts$/, ''), importsOf(rel, fs.readFileSync(path.join(root, rel), 'utf8')));
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return files;
}

interface Rule {
  /** The invariant as README.md states it. */
  text: string;
  /** Files the rule is about. */
  appliesTo: (file: string) => boolean;
  /** Whether `file` may import `imp`. */
  allows: (imp: Import, file: string) => boolean;
}

const under = (dir: string) => (p: string | undefined) => p !== undefined && (p === dir || p.startsWith(dir + '/'));
const isNative = (spec: string) => /^(@tensorflow\/|onnxruntime-)/.test(spec);
/** Packages bundled into the webview: charts and VS Code's web components. */
const WEBVIEW_PACKAGES = /^(uplot|@vscode-elements\/elements)(\/|$)/;
const isNodeBuiltin = (spec: string) => spec.startsWith('node:');

const RULES: Rule[] = [
  {
    text: 'src/engine never imports vscode, the extension or the webview',
    appliesTo: under('src/engine'),
    allows: (i) => i.spec !== 'vscode' && !under('src/extension')(i.target) && !under('webview-ui')(i.target),
  },
  {
    text: 'the extension never imports the engine, TensorFlow.js or ONNX Runtime (it runs the engine as a process)',
    appliesTo: under('src/extension'),
    allows: (i) => !under('src/engine')(i.target) && !isNative(i.spec),
  },
  {
    text: 'src/shared imports only src/shared, Node built-ins and yaml',
    appliesTo: under('src/shared'),
    allows: (i) => (i.target ? under('src/shared')(i.target) : isNodeBuiltin(i.spec) || i.spec === 'yaml'),
  },
  {
    text: 'the webview imports only webview-ui, its UI packages (uplot, @vscode-elements) and src/shared modules free of Node built-ins',
    appliesTo: under('webview-ui'),
    allows: (i) =>
      i.target
        ? under('webview-ui')(i.target) || (under('src/shared')(i.target) && !BROWSER_UNSAFE_SHARED.has(i.target))
        : WEBVIEW_PACKAGES.test(i.spec),
  },
  {
    text: 'only the CLI imports the CLI: commands are the engine’s top layer',
    appliesTo: (f) => under('src/engine')(f) && !under('src/engine/cli')(f),
    allows: (i) => !under('src/engine/cli')(i.target),
  },
  {
    text: 'TensorFlow.js is imported only by src/engine/backend, ONNX Runtime only by src/engine/onnx',
    appliesTo: under('src/engine'),
    allows: (i, f) =>
      (!i.spec.startsWith('@tensorflow/') || under('src/engine/backend')(f)) &&
      (!i.spec.startsWith('onnxruntime-') || under('src/engine/onnx')(f)),
  },
];

/** src/shared modules that reach a Node built-in, directly or through other shared modules. */
let BROWSER_UNSAFE_SHARED = new Set<string>();

function unsafeShared(files: Map<string, Import[]>): Set<string> {
  const unsafe = new Set<string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const [file, imports] of files) {
      if (!under('src/shared')(file) || unsafe.has(file)) continue;
      if (imports.some((i) => isNodeBuiltin(i.spec) || (i.target !== undefined && unsafe.has(i.target)))) {
        unsafe.add(file);
        changed = true;
      }
    }
  }
  return unsafe;
}

function violations(files: Map<string, Import[]>): string[] {
  BROWSER_UNSAFE_SHARED = unsafeShared(files);
  const found: string[] = [];
  for (const [file, imports] of files)
    for (const rule of RULES)
      if (rule.appliesTo(file))
        for (const imp of imports)
          if (!rule.allows(imp, file)) found.push(`${file}.ts imports '${imp.spec}': ${rule.text}`);
  return found;
}

test('every source file keeps the architecture invariants', () => {
  const files = sourceFiles();
  assert.ok(files.size > 150, `found only ${files.size} source files`);
  assert.deepEqual(violations(files), []);
});

test('the import reader sees static, type-only, re-export, dynamic and require imports', () => {
  const text = [
    "import * as fs from 'node:fs';",
    "import type { A,\n  B } from '../x/y';",
    "export { c } from './z';",
    "const ort = await import('onnxruntime-node');",
    "const wasm = require('@tensorflow/tfjs-backend-wasm');",
    "import 'side-effect';",
  ].join('\n');
  assert.deepEqual(
    importsOf('src/engine/run/file.ts', text).map((i) => i.target ?? i.spec),
    [
      'node:fs',
      'src/engine/x/y',
      'src/engine/run/z',
      'side-effect',
      'onnxruntime-node',
      '@tensorflow/tfjs-backend-wasm',
    ],
  );
});

test('each rule catches the import it forbids', () => {
  const broken = new Map<string, Import[]>([
    ['src/engine/model/ops', [{ spec: 'vscode' }, { spec: '../cli/command', target: 'src/engine/cli/command' }]],
    ['src/engine/run/embed', [{ spec: 'onnxruntime-node' }, { spec: '@tensorflow/tfjs-core' }]],
    ['src/extension/panel/gallery', [{ spec: '../../engine/x', target: 'src/engine/x' }, { spec: 'onnxruntime-node' }]],
    ['src/shared/metrics', [{ spec: 'sharp' }, { spec: '../engine/x', target: 'src/engine/x' }]],
    ['src/shared/fsThing', [{ spec: 'node:fs' }]],
    [
      'webview-ui/src/main',
      [{ spec: '../../src/shared/fsThing', target: 'src/shared/fsThing' }, { spec: 'node:path' }],
    ],
  ]);
  const found = violations(broken);
  assert.equal(found.length, 10, found.join('\n'));
  for (const rule of RULES)
    assert.ok(
      found.some((v) => v.endsWith(rule.text)),
      `no planted import broke: ${rule.text}`,
    );
});
