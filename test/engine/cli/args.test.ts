import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError, type OptionSpec } from '../../../src/engine/cli/args';

const specs: OptionSpec[] = [
  { name: 'sop_root', type: 'string', description: 'root', required: true, metavar: 'DIR' },
  { name: 'seed', type: 'integer', description: 'seed', default: 42 },
  { name: 'set', type: 'string[]', description: 'overrides' },
  { name: 'verbose', type: 'boolean', description: 'more' },
  { name: 'k', type: 'integer', description: 'k', short: 'k' },
];

test('flags in both spellings, inline values, repeats, defaults and positionals', () => {
  const r = parseArgs(['--sop-root', 'D', '--set', 'a=1', '--set=b=2', '-k', '5', 'x', '--verbose'], specs);
  assert.deepEqual(r.options, { sop_root: 'D', set: ['a=1', 'b=2'], k: 5, verbose: true, seed: 42 });
  assert.deepEqual(r.positionals, ['x']);
  assert.equal(parseArgs(['--sop_root=D', '--no-verbose'], specs).options.verbose, false);
});

test('errors name the flag and suggest the right one', () => {
  assert.throws(
    () => parseArgs(['--sop_rot', 'D'], specs),
    (e: Error) => e instanceof UsageError && /unknown option --sop-rot\. Did you mean --sop_root\?/.test(e.message),
  );
  assert.throws(() => parseArgs([], specs), /--sop_root is required \(DIR\)/);
  assert.throws(() => parseArgs(['--sop_root', 'D', '--seed', '1.5'], specs), /--seed takes an integer, got "1.5"/);
  assert.throws(() => parseArgs(['--sop_root'], specs), /--sop_root needs a value/);
  assert.throws(() => parseArgs(['--sop_root', 'D', '--verbose=maybe'], specs), /takes true or false/);
});

test('--help skips the required check', () => {
  assert.equal(parseArgs(['--help'], specs).options.help, true);
});
