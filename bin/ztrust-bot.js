#!/usr/bin/env node
// The ztrust-bot command. It runs the compiled JavaScript in dist/ (`npm run
// build`; `npm ci` and `npm install` run it through the prepare script), so
// a start does not pay for compiling TypeScript, bundled by esbuild into
// dist/bundle/ (a few chunks to read, not hundreds of modules to resolve),
// and cli/main.ts imports a command's code only when that command runs.
//
// A dist/ that is missing or was built from other sources than the ones
// here (src/, queue/, cli/, the tsconfig files: after a `git pull`, an edit,
// a deleted file, sources copied in with their old times, or a build that
// failed) is refused with one line saying to run `npm run build`, exit 2,
// rather than run through tsx: stale code must not run silently as if it
// were the current one (a fix in the sources would not be in effect), and a
// fallback would let the tests that spawn this command pass against
// something other than what users run (scripts/test.js builds first). The
// check compares dist/.sources with the files' sizes and times
// (scripts/source-manifest.js, a few milliseconds); a package without the
// sources skips it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { firstDifference, sourceManifest } from '../scripts/source-manifest.js';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

function staleness() {
  const now = sourceManifest(root);
  if (now === null) return null;
  let built;
  try {
    built = readFileSync(`${root}/dist/.sources`, 'utf8');
  } catch {
    return 'dist/ is missing';
  }
  return built === now ? null : `dist/ is out of date (${firstDifference(built, now)} is not what it was built from)`;
}

const stale = staleness();
if (stale) {
  process.stderr.write(`ztrust-bot: ${stale}; run \`npm run build\` in ${root}\n`);
  process.exit(2);
}
const { main } = await import('../dist/bundle/main.js');
process.exitCode = await main(process.argv.slice(2));
// BullMQ/ioredis handles are closed by the commands themselves; exit now so a
// stray timer in a library cannot keep a finished command alive.
process.exit(process.exitCode);
