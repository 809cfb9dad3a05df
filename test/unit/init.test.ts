import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as openpgp from 'openpgp';
import { initDataDir } from '../../src/app/init.js';
import { loadConfig, readSecret } from '../../src/config/load.js';
import { loadBotSigner } from '../../src/pgp/botkey.js';
import { parseVerifierKey } from '../../src/tlog/note.js';
import { ConfigError, PgpError } from '../../src/errors.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/ztrust-bot.js');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'zinit-'));

test('init makes the data directory, private keys at 0600, and a config that loads', async () => {
  const dir = tmp();
  const r = await initDataDir({ dataDir: path.join(dir, 'data'), address: 'bot@example.org', name: 'ztrust-bot', origin: 'example.org/log' });
  for (const d of ['collection', 'log', 'digests', 'keys']) assert.ok(existsSync(path.join(dir, 'data', d)), d);
  for (const f of ['keys/bot.key', 'keys/log.key', 'keys/passphrase']) {
    assert.equal(statSync(path.join(dir, 'data', f)).mode & 0o777, 0o600, f);
  }
  assert.equal(statSync(path.join(dir, 'data', 'keys')).mode & 0o077, 0, 'keys/ is private');
  const cfg = loadConfig(r.configPath);
  assert.equal(cfg.dataDir, path.join(dir, 'data'));
  assert.equal(cfg.bot.keyPassphraseFile, 'keys/passphrase');
  const pass = readSecret({ file: path.join(cfg.dataDir, cfg.bot.keyPassphraseFile) }, 'x', dir);
  // The private key is encrypted at rest and unlocks with the stored passphrase.
  const armored = readFileSync(path.join(dir, 'data', 'keys', 'bot.key'), 'utf8');
  assert.equal((await openpgp.readPrivateKey({ armoredKey: armored })).isDecrypted(), false);
  const signer = await loadBotSigner(path.join(dir, 'data', 'keys', 'bot.key'), pass);
  assert.equal(signer.fingerprint, r.botFingerprint);
  await assert.rejects(loadBotSigner(path.join(dir, 'data', 'keys', 'bot.key'), 'wrong'), (e: unknown) => e instanceof PgpError && /passphrase/.test(e.message));
  const key = await openpgp.readKey({ armoredKey: signer.publicArmored });
  assert.equal(key.getAlgorithmInfo().algorithm, 'eddsaLegacy', 'v4 EdDSA, readable by GnuPG 2.2');
  assert.equal(parseVerifierKey(readFileSync(path.join(dir, 'data', 'log', 'log.vkey'), 'utf8').trim()).name, 'example.org/log');
});

test('init takes the passphrase from the environment and never writes it down', async () => {
  const dir = tmp();
  const r = await initDataDir({ dataDir: path.join(dir, 'd'), address: 'bot@example.org', name: 'b', origin: 'o', passphrase: 'from-env-secret' });
  assert.equal(existsSync(path.join(dir, 'd', 'keys', 'passphrase')), false);
  assert.equal(r.config.bot.keyPassphraseEnv, 'ZTRUST_KEY_PASSPHRASE');
  assert.ok(!readFileSync(r.configPath, 'utf8').includes('from-env-secret'));
});

test('init refuses an origin that cannot name the log key, and writes nothing', async () => {
  const dir = tmp();
  for (const origin of ['has space', 'a+b', '']) {
    await assert.rejects(initDataDir({ dataDir: path.join(dir, 'd'), address: 'bot@example.org', name: 'b', origin }),
      (e: unknown) => e instanceof ConfigError && /cannot be a log origin/.test(e.message));
  }
  assert.equal(existsSync(path.join(dir, 'd', 'keys', 'bot.key')), false);
});

test('init refuses to overwrite an existing key or config', async () => {
  const dir = tmp();
  await initDataDir({ dataDir: path.join(dir, 'data'), address: 'bot@example.org', name: 'b', origin: 'o' });
  await assert.rejects(initDataDir({ dataDir: path.join(dir, 'data'), address: 'bot@example.org', name: 'b', origin: 'o' }),
    (e: unknown) => e instanceof ConfigError && /refusing to overwrite/.test(e.message));
  const other = tmp();
  writeFileSync(path.join(other, 'ztrust.yaml'), 'x: 1\n');
  await assert.rejects(initDataDir({ dataDir: path.join(other, 'data'), configPath: path.join(other, 'ztrust.yaml'), address: 'bot@example.org', name: 'b', origin: 'o' }),
    (e: unknown) => e instanceof ConfigError);
});

test('the CLI: init, then key and key --log print the public keys; errors exit 2', () => {
  const dir = tmp();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.ZTRUST_KEY_PASSPHRASE;
  const i = spawnSync(process.execPath, [CLI, 'init', '--data', path.join(dir, 'data'), '--address', 'bot@example.org'], { encoding: 'utf8', env });
  assert.equal(i.status, 0, i.stderr);
  assert.match(i.stdout, /bot key:\s+[0-9A-F]{40}/);
  const cfg = path.join(dir, 'data', 'ztrust.yaml');
  const k = spawnSync(process.execPath, [CLI, 'key', '--config', cfg], { encoding: 'utf8' });
  assert.equal(k.status, 0, k.stderr);
  assert.match(k.stdout, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  const l = spawnSync(process.execPath, [CLI, 'key', '--log', '--config', cfg], { encoding: 'utf8' });
  assert.match(l.stdout, /^ztrust\.example\.org\/log\+[0-9a-f]{8}\+/);
  const again = spawnSync(process.execPath, [CLI, 'init', '--data', path.join(dir, 'data')], { encoding: 'utf8', env });
  assert.equal(again.status, 2);
  const missing = spawnSync(process.execPath, [CLI, 'run', '--config', path.join(dir, 'nope.yaml')], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /CONFIG_NOT_FOUND/);
  const usage = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(usage.status, 2);
});
