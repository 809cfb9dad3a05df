/**
 * `ztrust-bot verify-source` as a user runs it (the built bin, spawned): what
 * is the caller's mistake (exit 2: an artifact that cannot be read, a
 * --release that is no release name) and never looks like tampering; the
 * wording when --release names another release; the note a pass carries
 * (the signature does not cover the file name); the warning when the log
 * key comes from inside the log directory it checks. Keys and signatures
 * from real GnuPG. Needs `npm run build`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Collection } from '../../src/collection/collection.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { generateLogKey } from '../../src/tlog/note.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/ztrust-bot.js');
let gpg: GpgHome;
let dir: string;
let collection: string;
let tarball: string;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, 'verify-source', ...args, '--collection', collection], { encoding: 'utf8', cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  gpg = await makeGpgHome();
  const fpr = await gpg.genKey('Demo Release <release@demo.example>', { algo: 'ed25519', encryptSubkey: false });
  dir = mkdtempSync(path.join(tmpdir(), 'zt-vscli-'));
  collection = path.join(dir, 'collection');
  const bytes = randomBytes(10_000);
  tarball = path.join(dir, 'demo-tool-1.0.tar.gz');
  writeFileSync(tarball, bytes);
  writeFileSync(`${tarball}.sig`, await gpg.detachSign(fpr, bytes));
  const col = await Collection.open(collection);
  await col.apply(async (c) => {
    const armored = await gpg.exportPublic(fpr);
    const file = await c.putSourceKey((await readKeysAny(armored))[0], { armored });
    await c.addSourceRows([{ key: path.basename(file), release: 'demo-tool-1.0' }]);
  }, { message: 'demo-tool-1.0', signer: null });
});
after(async () => gpg?.cleanup());

test('a pass prints the checks and says plainly that the signature does not cover the file name, with the SHA-256', () => {
  const r = cli([tarball, '--no-log']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ok: signature: /m);
  assert.match(r.out, /^note: the release \(demo-tool-1\.0\) is taken from the file name, which the signature does not cover: a file renamed to another release this key signed is not detected \(compare the SHA-256 [0-9a-f]{64} with the project's announcement, or ATTEST\/VERIFY it by hash\)$/m);
});

test('an artifact that cannot be read (a directory) is a usage error, exit 2, never "not a good signature"', () => {
  const d = path.join(dir, 'demo-tool-1.0.tar.xz');
  mkdirSync(d);
  const r = cli([d, `${tarball}.sig`, '--no-log']);
  assert.equal(r.code, 2, r.out + r.err);
  assert.match(r.err, /verify-source: .*demo-tool-1\.0\.tar\.xz: not a regular file/);
  assert.doesNotMatch(r.out + r.err, /not a good signature|EISDIR/);
});

test('--release that is no release name is a usage error (exit 2); another release is named as the release checked', () => {
  for (const bad of ['../x', 'a/b-1.0', 'demo tool']) {
    const r = cli([tarball, '--release', bad, '--no-log']);
    assert.equal(r.code, 2, bad);
    assert.match(r.err, /--release .*: not a release name/, bad);
    assert.equal(r.out, '', bad);
  }
  const other = cli([tarball, '--release', 'demo-tool-2.0', '--no-log']);
  assert.equal(other.code, 1);
  assert.match(other.out, /^FAILED: release: .*no row for this key and demo-tool-2\.0: the key is listed for demo-tool-1\.0 only, so it is NOT vouched to sign release demo-tool-2\.0 \(named by --release; the file is demo-tool-1\.0\.tar\.gz\)$/m);
  assert.doesNotMatch(other.out + other.err, /NOT vouched to sign demo-tool-1\.0/);
});

test('a --log-key file inside the --log directory: a warning on stderr and a note in --json; a key from elsewhere, none', () => {
  const { vkey } = generateLogKey('demo.example/log');
  const logDir = path.join(dir, 'log');
  mkdirSync(logDir);
  writeFileSync(path.join(logDir, 'log.vkey'), `${vkey}\n`);
  const outside = path.join(dir, 'trusted.vkey');
  writeFileSync(outside, `${vkey}\n`);
  const warning = /the --log-key file .*log\.vkey lies inside the --log directory .*: a key shipped with the copy being checked proves nothing/;

  const inside = cli([tarball, '--log', logDir, '--log-key', path.join(logDir, 'log.vkey'), '--json']);
  // The directory holds no log: the check fails; the warning is given all the same.
  assert.equal(inside.code, 1);
  assert.match(inside.err, new RegExp(`verify-source: warning: ${warning.source}`));
  const json = JSON.parse(inside.out) as { notes: string[]; checks: { name: string; state: string }[] };
  assert.match(json.notes[0], warning);
  assert.deepEqual(json.checks.map((c) => [c.name, c.state]), [['signature', 'ok'], ['key', 'ok'], ['release', 'ok'], ['log', 'failed']]);
  // Reached through a path with .. in it: still inside.
  const dotted = cli([tarball, '--log', logDir, '--log-key', path.join(dir, 'log', '..', 'log', 'log.vkey')]);
  assert.match(dotted.err, warning);

  for (const key of [outside, vkey]) {
    const r = cli([tarball, '--log', logDir, '--log-key', key, '--json']);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.err, /warning/);
    assert.deepEqual((JSON.parse(r.out) as { notes: string[] }).notes, []);
  }
});
