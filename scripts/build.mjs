// Bundles the three programs of the project with esbuild:
//   dist/extension/extension.js  VS Code extension host (CommonJS, `vscode` external)
//   dist/engine/vembed.js        the engine / CLI, run as a separate Node process
//   dist/engine/image-worker.js  its image decoding worker threads
//   dist/engine/search-worker.js its all-pairs similarity worker threads
//   dist/engine/embed-worker.js  its parallel embedding worker threads
//   dist/engine/gradient-worker.js its parallel gradient-cache worker threads
//   dist/webview/main.js         the results panel's page script (browser IIFE)
//   dist/webview/compare.js      the compare page's script (vembed: Compare Runs)
// plus the tfjs wasm binaries next to the engine bundle.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Native or optional packages stay outside the bundles and load from node_modules at run time.
const nodeExternals = ['vscode', 'sharp', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'onnxruntime-node'];

/** @type {esbuild.BuildOptions[]} */
const builds = [
  {
    entryPoints: { extension: 'src/extension/extension.ts' },
    outdir: 'dist/extension',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
  },
  {
    // The image worker runs in worker threads of the engine and must sit next to it (src/engine/image/spawnWorker.ts).
    entryPoints: {
      vembed: 'src/engine/cli/bin.ts',
      'image-worker': 'src/engine/image/worker.ts',
      'search-worker': 'src/engine/retrieval/allPairsWorker.ts',
      'embed-worker': 'src/engine/run/embedWorker.ts',
      'gradient-worker': 'src/engine/train/parallel/worker.ts',
    },
    outdir: 'dist/engine',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
  },
  {
    entryPoints: { main: 'webview-ui/src/main.ts', compare: 'webview-ui/src/compare.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.css': 'css' },
  },
];

function copyWasmBinaries() {
  const dir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  fs.mkdirSync(path.join(root, 'dist/engine'), { recursive: true });
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.wasm'))) {
    fs.copyFileSync(path.join(dir, f), path.join(root, 'dist/engine', f));
  }
}

const common = {
  absWorkingDir: root,
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
};
copyWasmBinaries();
if (watch) {
  for (const b of builds) (await esbuild.context({ ...common, ...b })).watch();
  console.log('watching for changes...');
} else {
  await Promise.all(builds.map((b) => esbuild.build({ ...common, ...b })));
  console.log(`built ${builds.length} bundles into dist/`);
}
