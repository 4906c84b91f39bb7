// `npm run demo`: the README's main job, on the built-in sample data set.
//
//   1. puts the sample set (SOP layout) in data/sample-sop and its train/val pairs next to it;
//   2. benchmarks the starting model on the sample's test split (the "zero-shot" numbers);
//   3. fine-tunes it with examples/demo_i2i.yaml once per seed (`vembed train --seeds`, evaluating on val after
//      every epoch): one seed of a short run on 144 products is one draw from a spread of several points;
//   4. benchmarks each seed's fine-tuned checkpoint the same way and prints the before/after table with each
//      seed's numbers and their mean ± sd;
//   5. writes what it measured to runs/demo/demo-results.json, from which `npm run readme:demo` renders the
//      README's demo section (docs/demo-results.json keeps the file the README shows).
//
// Everything goes through the `vembed` CLI, exactly as a user would run it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = 'examples/demo_i2i.yaml';
const SOP = 'data/sample-sop';
const SEEDS = [42, 1, 2];
const RESULTS_FILE = 'demo-results.json';

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

// Paths as the repository sees them (the table prints the report files; a results file must not hold this
// machine's absolute paths).
const rel = (p) => path.relative(root, p).split(path.sep).join('/');
// A report as the results file keeps it: the model and image root it names (benchmark sop writes absolute folders)
// relative too.
const portableReport = (file) => {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const key of ['model', 'image_root'])
    if (typeof report[key] === 'string' && path.isAbsolute(report[key])) report[key] = rel(report[key]);
  return report;
};
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

const trainStarted = Date.now();
vembed(['train', '--config', CONFIG, '--seeds', SEEDS.join(','), ...sets.flatMap((kv) => ['--set', kv])]);
const trainSeconds = (Date.now() - trainStarted) / 1000;

const readEvents = (dir) =>
  fs
    .readFileSync(path.join(dir, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

// Each seed's fine-tuned model is benchmarked next to its checkpoint, where the results panel finds it.
const afters = SEEDS.map((seed) => {
  const seedDir = path.join(runDir, `seed-${seed}`);
  const events = readEvents(seedDir);
  const last = events.filter((e) => e.type === 'checkpoint').at(-1);
  if (!last) {
    console.error(`demo: the seed ${seed} run wrote no checkpoint`);
    process.exit(1);
  }
  const started = events.find((e) => e.type === 'run_started');
  const epochs = events.filter((e) => e.type === 'epoch');
  const after = path.join(last.path, 'benchmark-sop');
  vembed([
    'benchmark',
    'sop',
    // Relative, so the report (and the README's table) names the checkpoint without this machine's path.
    '--model_path',
    rel(path.resolve(root, last.path)),
    '--sop_root',
    SOP,
    '--output_dir',
    after,
    '--image_size',
    imageSize,
  ]);
  return {
    seed,
    label: `seed ${seed}`,
    runDir: rel(seedDir),
    backend: started?.backend,
    device: started?.device,
    epochs: epochs.length,
    epochSeconds: epochs.map((e) => e.seconds),
    meanLosses: epochs.map((e) => e.meanLoss),
    file: rel(path.join(after, 'sop_report.json')),
    report: portableReport(path.join(after, 'sop_report.json')),
  };
});

console.log('\n== Before / after fine-tuning (sample test split: every image queries all the others)\n');
const beforeReport = path.join(before, 'sop_report.json');
const table = vembed(
  [
    'benchmark',
    'compare',
    rel(beforeReport),
    ...afters.map((a) => a.file),
    '--labels',
    afters.map((a) => a.label).join(','),
  ],
  { capture: true },
);
process.stdout.write(table);

const minutes = Number(((Date.now() - started) / 60000).toFixed(1));
const results = {
  format: 'vembed-demo-results',
  version: 1,
  command: ['npm run demo', ...(sets.length > 0 ? ['--'] : []), ...sets.map((kv) => `--set ${kv}`)].join(' '),
  config: CONFIG,
  seeds: SEEDS,
  cores: os.availableParallelism(),
  minutes,
  trainSeconds: Math.round(trainSeconds),
  before: {
    file: rel(beforeReport),
    report: portableReport(beforeReport),
  },
  afters,
  sweep: JSON.parse(fs.readFileSync(path.join(runDir, 'seed-sweep.json'), 'utf8')),
};
const resultsFile = path.join(runDir, RESULTS_FILE);
fs.writeFileSync(resultsFile + '.tmp', JSON.stringify(results, null, 2) + '\n');
fs.renameSync(resultsFile + '.tmp', resultsFile);
const firstAfter = path.dirname(path.join(root, afters[0].file));
const anImage = fs
  .readdirSync(path.join(root, SOP, 'food_final'))
  .filter((f) => f.endsWith('.jpg'))
  .sort()[0];
console.log(`
Done in ${minutes} min (training ${SEEDS.length} seeds: ${Math.round(trainSeconds)} s). Results:
  runs (events, checkpoints, per-epoch eval):  ${rel(runDir)}/seed-{${SEEDS.join(',')}}/
  spread over the seeds:                       ${rel(runDir)}/seed-sweep.json
  zero-shot benchmark:                         ${rel(before)}/sop_report.md
  fine-tuned benchmark + neighbours + index:   ${rel(firstAfter)}/ (seed ${SEEDS[0]}; each seed has its own)
  what this demo measured (for the README):    ${rel(resultsFile)}
In VS Code: "vembed: Open Results" and pick ${afters[0].runDir} to see the curves (with the seeds' spread), click through
  the queries, and compare the embeddings maps and errors before/after (tab "Map and errors").
Try a search:  npx vembed search --index ${rel(path.join(firstAfter, 'index'))} --image ${SOP}/food_final/${anImage}`);
