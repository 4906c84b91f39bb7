// `npm run demo`: the README's main job, on the built-in sample data set.
//
//   1. puts the sample set (SOP layout) in data/sample-sop and its train/val pairs next to it;
//   2. benchmarks the starting model on the sample's test split (the "zero-shot" numbers);
//   3. fine-tunes it with examples/demo_i2i.yaml (evaluating on val after every epoch);
//   4. benchmarks the fine-tuned checkpoint the same way and prints the before/after table.
//
// Everything goes through the `vembed` CLI, exactly as a user would run it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = 'examples/demo_i2i.yaml';
const SOP = 'data/sample-sop';

function vembed(args, { capture = false } = {}) {
  console.log(`\n$ vembed ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [path.join(root, 'bin/vembed.js'), ...args], {
    cwd: root,
    stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.error(`\ndemo: \`vembed ${args[0]}\` failed (exit ${r.status}); see above.`);
    process.exit(r.status ?? 1);
  }
  return r.stdout;
}

// `npm run demo -- --set key=value ...` passes config overrides to `vembed train` (e.g. to compare batch
// samplers with everything else equal); an output_dir override moves the whole demo run there.
// `--engine torch` trains with the torch engine (the config's engine key).
const sets = process.argv
  .slice(2)
  .flatMap((a, i, all) => (all[i - 1] === '--set' ? [a] : all[i - 1] === '--engine' ? [`engine=${a}`] : []));
const started = Date.now();
const config = YAML.parse(fs.readFileSync(path.join(root, CONFIG), 'utf8'));
for (const kv of sets) if (kv.startsWith('output_dir=')) config.output_dir = kv.slice('output_dir='.length);
const runDir = path.resolve(root, config.output_dir);
const imageSize = String(config.image_size);

// A demo run starts from scratch: its folder is the demo's own output.
if (fs.existsSync(runDir)) {
  console.log(`demo: removing the previous demo run ${path.relative(root, runDir)}`);
  fs.rmSync(runDir, { recursive: true, force: true });
}

vembed(['doctor']);
vembed(['sample-data', '--out', SOP]);

const before = path.join(runDir, 'zero-shot');
vembed([
  'benchmark',
  'sop',
  '--model_path',
  config.model_name,
  '--sop_root',
  SOP,
  '--output_dir',
  before,
  '--image_size',
  imageSize,
]);

vembed(['train', '--config', CONFIG, ...sets.flatMap((kv) => ['--set', kv])]);

const events = fs
  .readFileSync(path.join(runDir, 'events.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const last = events.filter((e) => e.type === 'checkpoint').at(-1);
if (!last) {
  console.error('demo: training wrote no checkpoint');
  process.exit(1);
}
// The fine-tuned model's benchmark goes next to its checkpoint, where the results panel finds it.
const after = path.join(last.path, 'benchmark-sop');
vembed([
  'benchmark',
  'sop',
  '--model_path',
  last.path,
  '--sop_root',
  SOP,
  '--output_dir',
  after,
  '--image_size',
  imageSize,
]);

console.log('\n== Before / after fine-tuning (sample test split: every image queries all the others)\n');
const table = vembed(
  ['benchmark', 'compare', path.join(before, 'sop_report.json'), path.join(after, 'sop_report.json')],
  { capture: true },
);
process.stdout.write(table);

const minutes = ((Date.now() - started) / 60000).toFixed(1);
const anImage = fs
  .readdirSync(path.join(root, SOP, 'food_final'))
  .filter((f) => f.endsWith('.jpg'))
  .sort()[0];
console.log(`
Done in ${minutes} min. Results:
  run (events, checkpoints, per-epoch eval):  ${path.relative(root, runDir)}/
  zero-shot benchmark:                        ${path.relative(root, before)}/sop_report.md
  fine-tuned benchmark + neighbours + index:  ${path.relative(root, after)}/
In VS Code: "vembed: Open Results" and pick ${path.relative(root, runDir)} to see the curves, click through the queries,
  and compare the embeddings maps and errors before/after (tab "Map and errors").
Try a search:  npx vembed search --index ${path.relative(root, path.join(after, 'index'))} --image ${SOP}/food_final/${anImage}`);
