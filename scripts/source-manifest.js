// What a build of dist/ was made from: every .ts file under src/, queue/ and
// cli/ and the two tsconfig files, each with its size and modification time,
// one line each, sorted. scripts/build.js writes it into dist/.sources (taken
// before tsc starts, so a file saved while tsc ran differs from it), and
// bin/ztrust-bot.js compares it with the files as they are now: an edited,
// added or deleted source, a `git pull`, or sources copied in with their old
// times (rsync -a, tar) over a newer dist/ all differ, so stale compiled code
// is never run as if it were current. About 320 stats: a few milliseconds.
//
// The build bundles the packages' code into dist/bundle/ too, so a changed
// set of packages (a lock-file bump from `git pull`, `npm install pkg@x`,
// `npm update`) must also send the user to the build, or the old library
// code (a security fix not in effect) would keep running: package-lock.json
// is recorded by its content, not its time, since npm rewrites it unchanged;
// scripts/build.js (how the bundle is made) by size and time like a source.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';

const FOLDERS = ['src', 'queue', 'cli'];
const FILES = ['tsconfig.json', 'tsconfig.build.json', 'scripts/build.js'];
const BY_CONTENT = ['package-lock.json'];

/** The manifest text, or null when the package holds no sources (nothing to compare). */
export function sourceManifest(root) {
  const lines = [];
  const add = (rel) => {
    const st = statSync(`${root}/${rel}`);
    lines.push(`${rel}\t${st.size}\t${Math.trunc(st.mtimeMs)}`);
  };
  const walk = (rel) => {
    let entries;
    try {
      entries = readdirSync(`${root}/${rel}`, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (e.name.endsWith('.ts')) add(child);
    }
  };
  for (const dir of FOLDERS) walk(dir);
  if (!lines.length) return null;
  for (const f of FILES) {
    try {
      add(f);
    } catch {
      /* absent: nothing to record */
    }
  }
  for (const f of BY_CONTENT) {
    try {
      lines.push(`${f}\t${createHash('sha256').update(readFileSync(`${root}/${f}`)).digest('hex')}`);
    } catch {
      /* absent: nothing to record */
    }
  }
  return `${lines.sort().join('\n')}\n`;
}

/** The first line that differs between two manifests, for the message. */
export function firstDifference(built, now) {
  const a = new Set(built.split('\n'));
  const b = new Set(now.split('\n'));
  const changed = [...b].find((l) => l && !a.has(l)) ?? [...a].find((l) => l && !b.has(l));
  return changed ? changed.split('\t')[0] : 'the sources';
}
