import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { loadConfig, parseConfig, readSecret } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const minimal = { bot: { address: 'bot@example.org' }, mailbox: { url: 'maildir:./in' }, outbox: { url: 'dir:./out' } };

function expectConfigError(fn: () => unknown, code: string, mention: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, mention);
    return true;
  });
}

test('the documented example config loads, with every default filled', () => {
  const cfg = loadConfig(path.join(ROOT, 'config/example.yaml'));
  assert.equal(cfg.bot.address, 'ztrust-bot@example.org');
  assert.equal(cfg.limits.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes);
  assert.equal(cfg.policy.maxSignatureAgeSeconds, 7 * 24 * 3600);
  assert.equal(path.isAbsolute(cfg.dataDir), true);
});

test('a minimal config gets every default', () => {
  const cfg = parseConfig(minimal, '/srv/z');
  assert.equal(cfg.dataDir, '/srv/z/data');
  assert.equal(cfg.mailbox.url, 'maildir:/srv/z/in');
  assert.equal(cfg.outbox.url, 'dir:/srv/z/out');
  assert.equal(cfg.queue.redisUrl, null);
  assert.equal(cfg.replies.signing, 'pgpmime');
  assert.equal(cfg.tickets.prefix, 'ZT-');
  assert.equal(cfg.mailbox.tls.rejectUnauthorized, true);
});

test('an unknown top-level key is an error naming the key', () => {
  expectConfigError(() => parseConfig({ ...minimal, treshold: 2 }, '/'), 'CONFIG_UNKNOWN_KEY', /unknown key "treshold"/);
});

test('an unknown nested key is an error naming its full path', () => {
  expectConfigError(() => parseConfig({ ...minimal, mailbox: { url: 'maildir:x', tls: { verfy: false } } }, '/'),
    'CONFIG_UNKNOWN_KEY', /unknown key "mailbox\.tls\.verfy"/);
  expectConfigError(() => parseConfig({ ...minimal, lists: [{ listId: 'a', sign: 'inline' }] }, '/'),
    'CONFIG_UNKNOWN_KEY', /unknown key "lists\.0\.sign"/);
});

test('wrong types and values are errors naming the key', () => {
  expectConfigError(() => parseConfig({ ...minimal, threshold: 'two' }, '/'), 'CONFIG_INVALID', /threshold/);
  expectConfigError(() => parseConfig({ ...minimal, bot: { address: 'not-an-address' } }, '/'), 'CONFIG_INVALID', /bot\.address/);
  expectConfigError(() => parseConfig({ ...minimal, mailbox: { url: 'pop3://x' } }, '/'), 'CONFIG_INVALID', /mailbox\.url/);
  expectConfigError(() => parseConfig({ ...minimal, maintainers: ['1234'] }, '/'), 'CONFIG_INVALID', /maintainers\.0/);
  expectConfigError(() => parseConfig({ ...minimal, maintainers: ['A'.repeat(40)], threshold: 2 }, '/'), 'CONFIG_INVALID', /threshold 2/);
  expectConfigError(() => parseConfig({ bot: {} }, '/'), 'CONFIG_INVALID', /bot\.address/);
});

test('fingerprints are normalised to upper case without 0x', () => {
  const cfg = parseConfig({ ...minimal, maintainers: [`0x${'ab'.repeat(20)}`], threshold: 1 }, '/');
  assert.deepEqual(cfg.maintainers, ['AB'.repeat(20)]);
});

test('YAML syntax errors and duplicate keys are CONFIG_PARSE; a missing file is CONFIG_NOT_FOUND', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zcfg-'));
  writeFileSync(path.join(dir, 'a.yaml'), 'bot: [unclosed\n');
  expectConfigError(() => loadConfig(path.join(dir, 'a.yaml')), 'CONFIG_PARSE', /a\.yaml/);
  writeFileSync(path.join(dir, 'b.yaml'), 'threshold: 1\nthreshold: 2\n');
  expectConfigError(() => loadConfig(path.join(dir, 'b.yaml')), 'CONFIG_PARSE', /b\.yaml/);
  expectConfigError(() => loadConfig(path.join(dir, 'missing.yaml')), 'CONFIG_NOT_FOUND', /missing\.yaml/);
});

test('JSON configs are accepted', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zcfg-'));
  writeFileSync(path.join(dir, 'c.json'), JSON.stringify(minimal));
  assert.equal(loadConfig(path.join(dir, 'c.json')).bot.address, 'bot@example.org');
});

test('secrets come from env or file, are read lazily and never appear in the config object', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zcfg-'));
  writeFileSync(path.join(dir, 'pw'), 'file-secret-123\nignored line\n');
  process.env.ZTRUST_TEST_PW = 'env-secret-456';
  const cfg = parseConfig({ ...minimal, mailbox: { url: 'imap://u@h/INBOX', passwordEnv: 'ZTRUST_TEST_PW' },
    outbox: { url: 'smtp://h:25', passwordFile: 'pw' } }, dir);
  assert.equal(readSecret({ env: cfg.mailbox.passwordEnv }, 'imap', dir), 'env-secret-456');
  assert.equal(readSecret({ file: cfg.outbox.passwordFile }, 'smtp', dir), 'file-secret-123');
  const dump = JSON.stringify(cfg);
  assert.ok(!dump.includes('env-secret-456') && !dump.includes('file-secret-123'));
  assert.throws(() => readSecret({ env: 'ZTRUST_TEST_UNSET_VAR' }, 'imap', dir), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_SECRET' && /ZTRUST_TEST_UNSET_VAR/.test(e.message));
  assert.throws(() => readSecret({ file: 'nope' }, 'smtp', dir), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_SECRET');
  assert.equal(readSecret({}, 'none', dir), undefined);
});

test('config/schema.json is the schema the code enforces (regenerated, identical)', () => {
  const fresh = execFileSync(process.execPath, [path.join(ROOT, 'bin/ztrust-bot.js'), 'config-schema'], { encoding: 'utf8' });
  assert.equal(fresh, readFileSync(path.join(ROOT, 'config/schema.json'), 'utf8'), 'run `ztrust-bot config-schema > config/schema.json`');
});

test('the CLI exits 2 and names the key on an unknown config key', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zcfg-'));
  writeFileSync(path.join(dir, 'z.yaml'), `${JSON.stringify({ ...minimal, outbox: { url: 'dir:x', retries: 3 } })}\n`);
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/ztrust-bot.js'), 'run', '--once', '--config', path.join(dir, 'z.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /unknown key "outbox\.retries"/);
});
