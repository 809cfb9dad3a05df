#!/usr/bin/env node
// The ztrust-bot command. It runs the compiled JavaScript in dist/ (`npm run
// build`; `npm ci` and `npm install` run it through the prepare script), so
// a start does not pay for compiling TypeScript, and cli/main.ts imports a
// command's code only when that command runs.
//
// A dist/ that is missing or older than the sources (src/, queue/, cli/:
// after a `git pull` or an edit, or a build that failed) is refused with
// one line saying to run `npm run build`, exit 2, rather than run
// through tsx: stale code must not run silently as if it were the current
// one (a fix in the sources would not be in effect), and a fallback would
// let the tests that spawn this command pass against something other than
// what users run (scripts/test.js builds first). The check stats the
// sources (a millisecond or two); a package without them skips it.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest .ts file under the source folders, or null when there are none. */
function newestSource() {
  let newest = null;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const file = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(file);
      else if (e.name.endsWith('.ts')) {
        const mtimeMs = statSync(file).mtimeMs;
        if (!newest || mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
      }
    }
  };
  for (const dir of ['src', 'queue', 'cli']) walk(`${root}${dir}`);
  return newest;
}

function staleness() {
  const source = newestSource();
  if (!source) return null;
  let built;
  try {
    built = statSync(`${root}dist/.build-started`).mtimeMs;
  } catch {
    return 'dist/ is missing';
  }
  return source.mtimeMs > built ? `dist/ is older than ${source.file.slice(root.length)}` : null;
}

const stale = staleness();
if (stale) {
  process.stderr.write(`ztrust-bot: ${stale}; run \`npm run build\` in ${root.replace(/\/$/, '')}\n`);
  process.exit(2);
}
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
// BullMQ/ioredis handles are closed by the commands themselves; exit now so a
// stray timer in a library cannot keep a finished command alive.
process.exit(process.exitCode);
