/**
 * src/pgp/known.ts reads the collection's keys from its own git repository
 * and nowhere else: a data directory inside another repository (a home or
 * /etc kept in git) whose collection's .git/HEAD is damaged must not get
 * that repository's keys, nor an empty keyring as if nothing were
 * committed, but an error (the message is tried again later).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { KnownKeys } from '../../src/pgp/known.js';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t.test', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t.test' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: GIT_ENV, stdio: 'pipe' });

async function keyFile(dir: string, email: string): Promise<string> {
  const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email }], format: 'object' });
  mkdirSync(path.join(dir, 'pgp', 'all'), { recursive: true });
  writeFileSync(path.join(dir, 'pgp', 'all', `${email}.asc`), publicKey.armor());
  return publicKey.getFingerprint().toUpperCase();
}

test('a damaged HEAD in the collection: an error, never the keys of a repository above it, never an empty keyring', async () => {
  const outer = mkdtempSync(path.join(tmpdir(), 'zt-known-'));
  git(outer, 'init', '-q');
  const mallory = await keyFile(outer, 'mallory@outer.test');
  git(outer, 'add', '-A');
  git(outer, 'commit', '-qm', 'outer');
  const collection = path.join(outer, 'data', 'collection');
  mkdirSync(collection, { recursive: true });
  git(collection, 'init', '-q');
  const alice = await keyFile(collection, 'alice@people.test');
  git(collection, 'add', '-A');
  git(collection, 'commit', '-qm', 'seed');

  const fprs = async (k: KnownKeys) => (await k.get()).all().map((key) => key.getFingerprint().toUpperCase());
  assert.deepEqual(await fprs(new KnownKeys(path.join(outer, 'data'))), [alice]);

  writeFileSync(path.join(collection, '.git', 'HEAD'), 'garbage\n');
  const known = new KnownKeys(path.join(outer, 'data'));
  await assert.rejects(known.get(), /cannot read the collection's HEAD/);
  assert.notEqual(mallory, alice);
});
