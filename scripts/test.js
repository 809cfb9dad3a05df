#!/usr/bin/env node
// `npm test`: check the system programs the integration tests run for real,
// build dist/ (scripts/build.js: the tests that spawn bin/ztrust-bot.js run
// the compiled code, as users do, never a stale build), check the layering
// (scripts/depcheck.js), typecheck, lint (ESLint, zero warnings), then run
// unit and integration tests with node's test runner.
//
//   npm test                          all tests
//   npm test -- test/unit/x.test.ts   only these files (still checks layers and types)
//   npm test -- --no-typecheck ...    skip the typecheck and the lint (which type-checks too; not the layer check)
//
// Exit status: 2 when a system program is missing; otherwise non-zero when
// the build, the layer check, the typecheck, the lint or any test failed.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// program -> Debian package that provides it
const REQUIRED = [
  ['redis-server', 'redis-server'],
  ['dovecot', 'dovecot-imapd dovecot-lmtpd'],
  ['gpg', 'gnupg'],
  ['openssl', 'openssl'],
  ['git', 'git'],
  // The independent reader of every mail the bot sends (test/harness/mailcheck.ts).
  ['python3', 'python3'],
];

// Daemons live in sbin, which is not on a normal user's PATH on Debian.
const SEARCH = [
  ...(process.env.PATH ?? '').split(delimiter).filter(Boolean),
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
];

function found(program) {
  return SEARCH.some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = REQUIRED.filter(([program]) => !found(program));
if (missing.length > 0) {
  const packages = [...new Set(missing.flatMap(([, pkg]) => pkg.split(' ')))];
  console.error(`Missing system programs: ${missing.map(([p]) => p).join(', ')}`);
  console.error('The integration tests run them for real. Install them with:');
  console.error(`  apt-get install -y ${packages.join(' ')}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const skipTypecheck = argv.includes('--no-typecheck');
const requested = argv.filter((a) => a !== '--no-typecheck');

function testFiles(dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
}

// node 20's --test does not expand globs: list the files here.
const files = requested.length > 0 ? requested.map((f) => relative(root, join(process.cwd(), f))) : [...testFiles('test/unit'), ...testFiles('test/security'), ...testFiles('test/integration')];
if (files.length === 0) {
  console.error('No test files found under test/unit, test/security or test/integration.');
  process.exit(1);
}

// Always rebuilt: a dist/ left from before a `git pull` or an edit would
// otherwise be what the CLI tests run. When the build fails, dist/ stays as it
// was and bin/ztrust-bot.js refuses it (built from other sources), so those tests fail.
console.log('> node scripts/build.js');
const build = spawnSync(process.execPath, [join(root, 'scripts/build.js')], { cwd: root, stdio: 'inherit' });
const buildStatus = build.status ?? 1;
console.log(buildStatus === 0 ? 'build: ok' : `build: FAILED (exit ${buildStatus})`);

// Layers that point one way: a src/ -> queue/ import or a folder cycle fails the run.
console.log('> node scripts/depcheck.js');
const depcheck = spawnSync(process.execPath, [join(root, 'scripts/depcheck.js')], { cwd: root, stdio: 'inherit' });
const depcheckStatus = depcheck.status ?? 1;

let typecheckStatus = 0;
if (!skipTypecheck) {
  console.log('> tsc --noEmit -p tsconfig.json');
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  typecheckStatus = tsc.status ?? 1;
  console.log(typecheckStatus === 0 ? 'typecheck: ok' : `typecheck: FAILED (exit ${typecheckStatus})`);
}

// ESLint with typescript-eslint's type-checked rules (eslint.config.js); a
// single warning fails the run, so none can pile up unnoticed.
let lintStatus = 0;
if (!skipTypecheck) {
  console.log('> eslint --max-warnings=0 .');
  const eslint = spawnSync(process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '--max-warnings=0', '.'], {
    cwd: root,
    stdio: 'inherit',
  });
  lintStatus = eslint.status ?? 1;
  console.log(lintStatus === 0 ? 'lint: ok' : `lint: FAILED (exit ${lintStatus})`);
}

// Files run one at a time: integration tests start real services, and
// parallel files would compete for CPU and make timings meaningless.
const args = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=1',
  '--test-timeout=300000',
  '--test-reporter=spec',
  ...files,
];
console.log(`> node ${args.join(' ')}`);
const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
const testStatus = run.status ?? (run.signal ? 128 : 1);

// Tests still run when the build, the layer check, the typecheck or the lint fails, so CI shows every result.
const skipped = (status) => (skipTypecheck ? 'skipped' : status === 0 ? 'ok' : 'FAILED');
console.log(`result: build ${buildStatus === 0 ? 'ok' : 'FAILED'}, layers ${depcheckStatus === 0 ? 'ok' : 'FAILED'}, typecheck ${skipped(typecheckStatus)}, lint ${skipped(lintStatus)}, tests ${testStatus === 0 ? 'ok' : `FAILED (exit ${testStatus})`}`);
process.exit([testStatus, buildStatus, typecheckStatus, lintStatus, depcheckStatus].find((s) => s !== 0) ?? 0);
