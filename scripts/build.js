#!/usr/bin/env node
// `npm run build`, also run by `npm ci` / `npm install` (the prepare script)
// and first by `npm test`: compile src/, queue/ and cli/ (tsconfig.build.json)
// into dist/, which bin/ztrust-bot.js runs.
//
// tsc writes into a fresh directory that then replaces dist/: no file of a
// deleted source stays behind, and a failed build (a type error) leaves the
// previous dist/ as it was, which bin/ztrust-bot.js then refuses as older
// than the sources, so code that did not typecheck is never run.
// dist/.build-started carries the time the build started: a source saved
// while tsc ran is newer than it, so the command asks for another build.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const next = join(root, 'dist.next');
const started = new Date();

const tscBin = join(root, 'node_modules/typescript/bin/tsc');
if (!existsSync(tscBin)) {
  // An install without the devDependencies (npm ci --omit=dev) has no compiler.
  console.error('build: typescript is not installed (a devDependency): run `npm ci` without --omit=dev');
  // As npm ci's prepare step, do not fail the whole install over it: the
  // command then says dist/ is missing and how to build it.
  process.exit(process.env.npm_lifecycle_event === 'prepare' ? 0 : 1);
}
rmSync(next, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscBin, '-p', 'tsconfig.build.json', '--outDir', next], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  console.error(`build: tsc failed (exit ${tsc.status ?? tsc.signal}); dist/ is unchanged`);
  process.exit(tsc.status || 1);
}
const stamp = join(next, '.build-started');
closeSync(openSync(stamp, 'w'));
utimesSync(stamp, started, started);
rmSync(dist, { recursive: true, force: true });
renameSync(next, dist);
