/**
 * bin/ztrust-bot.js runs dist/ only when dist/ was built from the sources
 * beside it (scripts/source-manifest.js). The real bin and manifest code, in
 * a package copy whose dist/bundle/main.js is a stand-in that exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceManifest } from '../../scripts/source-manifest.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

function fakePackage(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'zbin-'));
  for (const d of ['bin', 'scripts']) cpSync(path.join(repo, d), path.join(root, d), { recursive: true });
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
  mkdirSync(path.join(root, 'src', 'mail'), { recursive: true });
  mkdirSync(path.join(root, 'cli'), { recursive: true });
  writeFileSync(path.join(root, 'src', 'mail', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(path.join(root, 'cli', 'main.ts'), 'export const m = 1;\n');
  writeFileSync(path.join(root, 'tsconfig.json'), '{}');
  writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion":3,"packages":{"node_modules/openpgp":{"version":"6.3.2"}}}\n');
  mkdirSync(path.join(root, 'dist', 'bundle'), { recursive: true });
  writeFileSync(path.join(root, 'dist', 'bundle', 'main.js'), 'export async function main() { process.stdout.write("ran\\n"); return 0; }\n');
  writeFileSync(path.join(root, 'dist', '.sources'), sourceManifest(root) ?? '');
  return root;
}

function run(root: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'ztrust-bot.js'), '--help'], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('a dist/ built from these sources runs', () => {
  const root = fakePackage();
  assert.deepEqual(run(root), { status: 0, out: 'ran\n', err: '' });
  rmSync(root, { recursive: true, force: true });
});

test('package-lock.json rewritten with the same content (npm does) is not a change', () => {
  const root = fakePackage();
  const lock = path.join(root, 'package-lock.json');
  const text = readFileSync(lock);
  writeFileSync(lock, text);
  utimesSync(lock, new Date('2030-01-01'), new Date('2030-01-01'));
  assert.deepEqual(run(root), { status: 0, out: 'ran\n', err: '' });
  rmSync(root, { recursive: true, force: true });
});

test('an edited, added or deleted source, a tsconfig change, or a missing dist/ is refused with one line naming the build', () => {
  const cases: [string, (root: string) => void, RegExp][] = [
    ['edited', (r) => writeFileSync(path.join(r, 'src', 'mail', 'a.ts'), 'export const a = 2; // fixed\n'), /src\/mail\/a\.ts/],
    ['added', (r) => writeFileSync(path.join(r, 'cli', 'new.ts'), 'export {};\n'), /cli\/new\.ts/],
    ['deleted', (r) => rmSync(path.join(r, 'src', 'mail', 'a.ts')), /src\/mail\/a\.ts/],
    ['tsconfig', (r) => writeFileSync(path.join(r, 'tsconfig.json'), '{"compilerOptions":{}}'), /tsconfig\.json/],
    // Copied in with an old time (rsync -a, tar) over a newer build: same size, older mtime.
    ['copied with its old time', (r) => {
      const f = path.join(r, 'src', 'mail', 'a.ts');
      writeFileSync(f, 'export const a = 9;\n');
      utimesSync(f, new Date('2020-01-01'), new Date('2020-01-01'));
    }, /src\/mail\/a\.ts/],
    ['no dist', (r) => rmSync(path.join(r, 'dist', '.sources')), /dist\/ is missing/],
    // The bundle holds the packages' code: another set of packages needs a build too.
    ['a lock-file bump', (r) => writeFileSync(path.join(r, 'package-lock.json'),
      '{"lockfileVersion":3,"packages":{"node_modules/openpgp":{"version":"6.3.3"}}}\n'), /package-lock\.json/],
  ];
  for (const [name, change, names] of cases) {
    const root = fakePackage();
    change(root);
    const r = run(root);
    assert.equal(r.status, 2, name);
    assert.equal(r.out, '', `${name}: the stale code did not run`);
    assert.match(r.err, names, name);
    assert.match(r.err, /^ztrust-bot: .*run `npm run build` in .+\n$/, name);
    rmSync(root, { recursive: true, force: true });
  }
});
