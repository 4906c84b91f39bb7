// Builds the platform-specific .vsix of the extension with @vscode/vsce, offline.
//
//   node scripts/package.mjs [--target linux-x64] [--out path/to/file.vsix]
//
// vsce lists production dependencies with `npm list` and packs them (sharp's
// native binary and libvips must be inside, so dependency detection stays on);
// .vscodeignore keeps everything esbuild already bundled out. After packing,
// the .vsix is opened and checked: size limit, no tfjs-node, the bundles are
// there, ONNX Runtime's native library of this target only (no other
// platform's, no CUDA/TensorRT provider), and every package the bundles load
// from disk at run time loads from the unpacked extension folder.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// ONNX Runtime's CPU library is most of it (linux-x64: 45 MB, ~18 MB compressed).
const MAX_BYTES = 50 * 1024 * 1024;
// Loaded from disk at run time but allowed to be absent: the host provides
// `vscode`; tfjs-node(-gpu) are installed on demand; `encoding` is an optional
// require of node-fetch (inside tfjs-core), guarded by try/catch.
const PROVIDED_OR_OPTIONAL = new Set(['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'encoding']);
// Beyond loading: exercise the native part (sharp loads libvips lazily for some operations).
const SMOKE = {
  'onnxruntime-node': `async (ort) => { if (!ort.listSupportedBackends().some((b) => b.name === 'cpu')) throw new Error('no CPU provider'); }`,
  sharp: `async (sharp) => { const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#f00' } }).png().toBuffer(); if (png.length < 8) throw new Error('empty PNG'); }`,
};
const FORBIDDEN_PREFIXES = ['extension/node_modules/@tensorflow/tfjs-node'];
const ORT_BIN = 'extension/node_modules/onnxruntime-node/bin/napi-v6/';
const REQUIRED_ENTRIES = [
  'extension/package.json',
  'extension/dist/extension/extension.js',
  'extension/dist/engine/vembed.js',
  'extension/LICENSE.txt',
  // The PyTorch engine's package, found by the engine beside dist/ (src/engine/torch/pythonEnv.ts).
  'extension/python/vembed_torch/__init__.py',
  'extension/python/vembed_torch/probe.py',
];

function parseArgs(argv) {
  const opts = { target: currentTarget(), out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === '--target') opts.target = value();
    else if (a === '--out') opts.out = path.resolve(value());
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: node scripts/package.mjs [--target <vsce target, default: this machine>] [--out <file.vsix>]',
      );
      process.exit(0);
    } else fail(`unknown argument ${a} (see --help)`);
  }
  return opts;
}

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

/** vsce's target name for this machine (linux-x64, darwin-arm64, alpine-x64, ...). */
function currentTarget() {
  const arch = { x64: 'x64', arm64: 'arm64', arm: 'armhf' }[process.arch];
  if (!arch) fail(`no VS Code target for CPU architecture ${process.arch}`);
  if (process.platform === 'linux') {
    // musl-based Linux (Alpine) has no glibc version in the process report.
    const glibc = process.report?.getReport()?.header?.glibcVersionRuntime;
    return `${glibc ? 'linux' : 'alpine'}-${arch}`;
  }
  if (process.platform === 'darwin' || process.platform === 'win32') return `${process.platform}-${arch}`;
  fail(`no VS Code target for platform ${process.platform}`);
}

/**
 * onnxruntime-node's native folder (under bin/napi-v6/) for a vsce target; null where it ships none (alpine, armhf).
 */
function ortNativeFolder(target) {
  const [platform, arch] = target.split('-');
  if (!['linux', 'darwin', 'win32'].includes(platform) || !['x64', 'arm64'].includes(arch)) return null;
  return `${platform}/${arch}`;
}

/** .vscodeignore plus the one native ONNX Runtime folder of this target, as a temporary file for vsce --ignoreFile. */
function ignoreFileFor(target) {
  const folder = ortNativeFolder(target);
  const extra = folder
    ? `\n# scripts/package.mjs, target ${target}: ONNX Runtime's library for it, without GPU providers.\n!node_modules/onnxruntime-node/bin/napi-v6/${folder}/onnxruntime_binding.node\n!node_modules/onnxruntime-node/bin/napi-v6/${folder}/libonnxruntime.*\n!node_modules/onnxruntime-node/bin/napi-v6/${folder}/onnxruntime.dll\n!node_modules/onnxruntime-node/bin/napi-v6/${folder}/DirectML.dll\n!node_modules/onnxruntime-node/bin/napi-v6/${folder}/dxcompiler.dll\n!node_modules/onnxruntime-node/bin/napi-v6/${folder}/dxil.dll\n`
    : '';
  const file = path.join(os.tmpdir(), `vembed-vscodeignore-${process.pid}`);
  fs.writeFileSync(file, fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8') + extra);
  return file;
}

/** sharp's native package for a vsce target; it must be the one installed in node_modules. */
function sharpNativePackage(target) {
  const [platform, arch] = target.split('-');
  const os_ = { alpine: 'linuxmusl', linux: 'linux', darwin: 'darwin', win32: 'win32' }[platform];
  return `@img/sharp-${os_}-${arch === 'armhf' ? 'arm' : arch}`;
}

function run(cmd, args, what) {
  const t0 = Date.now();
  // stdin closed: any vsce prompt reads EOF and aborts instead of waiting forever in CI.
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) fail(`${what} could not start: ${r.error.message}`);
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal})`);
  return (Date.now() - t0) / 1000;
}

/** Reads a zip's central directory: name, method, sizes and local header offset of each entry. */
function zipEntries(buf) {
  const EOCD = 0x06054b50;
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end-of-central-directory record)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`corrupt zip central directory at byte ${p}`);
    const method = buf.readUInt16LE(p + 10);
    const compressedSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    entries.push({ name, method, compressedSize, size, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function entryData(buf, e) {
  const start = e.localOffset + 30 + buf.readUInt16LE(e.localOffset + 26) + buf.readUInt16LE(e.localOffset + 28);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) return zlib.inflateRawSync(raw);
  throw new Error(`${e.name}: unsupported zip compression method ${e.method}`);
}

function extractAll(buf, entries, dest) {
  for (const e of entries) {
    if (e.name.endsWith('/')) continue;
    const file = path.join(dest, e.name);
    if (!file.startsWith(dest + path.sep)) throw new Error(`zip entry escapes the folder: ${e.name}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, entryData(buf, e));
  }
}

/** Bare package names the bundles `require` at run time (not Node built-ins). */
function externalRequires(bundleFiles) {
  const builtins = new Set(builtinModules);
  const names = new Set();
  for (const file of bundleFiles) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/\brequire\(\s*["']([^"'.][^"']*)["']\s*\)/g)) {
      const spec = m[1];
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      const parts = spec.split('/');
      names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
    }
  }
  return [...names].sort();
}

/** The line of a Node error dump that says what went wrong. */
function firstErrorLine(stderr = '') {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (
    lines.find((l) => /^(\w*Error|Cannot find module)/.test(l) || /Error: /.test(l)) ?? lines.slice(-3).join(' | ')
  );
}

function checkPackage(vsixPath, target) {
  const problems = [];
  const buf = fs.readFileSync(vsixPath);
  const entries = zipEntries(buf);
  const names = new Set(entries.map((e) => e.name));
  if (buf.length > MAX_BYTES)
    problems.push(`the package is ${mb(buf.length)}, over the ${mb(MAX_BYTES)} limit: check .vscodeignore`);
  for (const e of entries) {
    if (FORBIDDEN_PREFIXES.some((p) => e.name.startsWith(p)))
      problems.push(`${e.name} must not be packaged (tfjs-node is installed on demand)`);
  }
  for (const r of REQUIRED_ENTRIES) if (!names.has(r)) problems.push(`${r} is missing`);
  const ortFolder = ortNativeFolder(target);
  for (const e of entries) {
    if (!e.name.startsWith(ORT_BIN) || e.name.endsWith('/')) continue;
    if (!ortFolder || !e.name.startsWith(`${ORT_BIN}${ortFolder}/`))
      problems.push(`${e.name}: another platform's ONNX Runtime library must not be packaged (target ${target})`);
    if (/providers_(cuda|tensorrt)|nvinfer|cudnn|cublas/i.test(e.name))
      problems.push(`${e.name}: GPU providers are installed on demand, not packaged`);
  }
  if (ortFolder && !names.has(`${ORT_BIN}${ortFolder}/onnxruntime_binding.node`))
    problems.push(`${ORT_BIN}${ortFolder}/onnxruntime_binding.node (ONNX Runtime for ${target}) is missing`);
  if (![...names].some((n) => n.startsWith('extension/dist/engine/') && n.endsWith('.wasm')))
    problems.push('the tfjs wasm binaries are missing from extension/dist/engine/');

  // Unpack and load each external package from the extension folder, as the extension host would.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-vsix-'));
  try {
    extractAll(buf, entries, tmp);
    const ext = path.join(tmp, 'extension');
    const bundles = ['dist/extension/extension.js', 'dist/engine/vembed.js']
      .map((b) => path.join(ext, b))
      .filter((f) => fs.existsSync(f));
    const externals = externalRequires(bundles);
    const mustLoad = externals.filter((n) => !PROVIDED_OR_OPTIONAL.has(n));
    // sharp is kept external on purpose; check it even while no bundle requires it yet.
    if (!mustLoad.includes('sharp')) mustLoad.push('sharp');
    // The engine loads onnxruntime-node by a resolved path (onnx/runtime.ts), which the scan above cannot see.
    if (ortFolder && !mustLoad.includes('onnxruntime-node')) mustLoad.push('onnxruntime-node');
    for (const name of mustLoad) {
      const load = `require(require.resolve(${JSON.stringify(name)}, { paths: [${JSON.stringify(ext)}] }))`;
      const script = SMOKE[name]
        ? `(${SMOKE[name]})(${load}).catch((e) => { console.error(e); process.exit(1); })`
        : load;
      const r = spawnSync(process.execPath, ['-e', script], { cwd: tmp, encoding: 'utf8' });
      if (r.status !== 0)
        problems.push(
          `'${name}' (required by the bundles) does not load from the package: ${firstErrorLine(r.stderr)}`,
        );
    }
    if (!names.has(`extension/node_modules/${sharpNativePackage(target)}/package.json`)) {
      problems.push(
        `${sharpNativePackage(target)} (sharp's native part for ${target}) is not in the package; is node_modules installed on a ${target} machine?`,
      );
    }
    return {
      entries,
      bytes: buf.length,
      loaded: mustLoad,
      skipped: externals.filter((n) => PROVIDED_OR_OPTIONAL.has(n)),
      problems,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function mb(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const opts = parseArgs(process.argv.slice(2));
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const out = opts.out ?? path.join(root, `${manifest.name}-${opts.target}-${manifest.version}.vsix`);
if (!fs.existsSync(path.join(root, 'node_modules', sharpNativePackage(opts.target), 'package.json'))) {
  fail(
    `${sharpNativePackage(opts.target)} is not installed, so a ${opts.target} package would lack sharp's native part; package on a ${opts.target} machine`,
  );
}
fs.mkdirSync(path.dirname(out), { recursive: true });

const t0 = Date.now();
// vsce runs `vscode:prepublish` itself when package.json has one; otherwise build here.
if (!manifest.scripts?.['vscode:prepublish']) {
  const s = run(process.execPath, [path.join(root, 'scripts/build.mjs'), '--production'], 'the production build');
  console.log(`package: production build (${s.toFixed(1)} s)`);
}
const vsce = path.join(root, 'node_modules/@vscode/vsce/vsce');
const tmpOut = `${out}.tmp-${process.pid}.vsix`;
const ignoreFile = ignoreFileFor(opts.target);
const s = run(
  process.execPath,
  // No repository field (private project): say so instead of being asked. The
  // README's relative links stay as they are (no repository URL to prefix).
  [
    vsce,
    'package',
    '--target',
    opts.target,
    '--out',
    tmpOut,
    '--allow-missing-repository',
    '--no-rewrite-relative-links',
    '--no-yarn',
    '--dependencies',
    '--ignoreFile',
    ignoreFile,
  ],
  'vsce package',
);
fs.rmSync(ignoreFile, { force: true });
console.log(`package: vsce package (${s.toFixed(1)} s)`);

let result;
try {
  result = checkPackage(tmpOut, opts.target);
} catch (e) {
  fs.rmSync(tmpOut, { force: true });
  fail(`could not read ${tmpOut}: ${e.message}`);
}
if (result.problems.length > 0) {
  fs.rmSync(tmpOut, { force: true });
  fail(`the package is not usable:\n  - ${result.problems.join('\n  - ')}`);
}
fs.renameSync(tmpOut, out);
const files = result.entries.filter((e) => !e.name.endsWith('/'));
const unpacked = files.reduce((a, e) => a + e.size, 0);
console.log(`package: ${path.relative(process.cwd(), out) || out}`);
console.log(`package: target ${opts.target}, ${files.length} files, ${mb(result.bytes)} (${mb(unpacked)} unpacked)`);
console.log(
  `package: loads from the unpacked package: ${result.loaded.join(', ')}; left to the host or optional: ${result.skipped.join(', ') || 'none'}`,
);
console.log(`package: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
