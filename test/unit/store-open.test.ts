/**
 * The store factory and its config key: the backend is chosen by
 * `store.driver` (default sqlite, at <dataDir>/state.db, the path every
 * existing data directory uses); an unknown driver or key stops the bot with
 * an error that names it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { dataLayout } from '../../src/datadir.js';
import { openStore } from '../../src/store/open.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { collectionLockFile } from '../../src/collection/lock.js';

const minimal = { bot: { address: 'bot@example.org' }, mailbox: { url: 'maildir:./in' }, outbox: { url: 'dir:./out' } };

function configError(store: unknown, code: string, mention: RegExp): void {
  assert.throws(() => parseConfig({ ...minimal, store }, '/srv/z'), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, mention);
    return true;
  });
}

test('store.driver defaults to sqlite', () => {
  assert.deepEqual(parseConfig(minimal, '/srv/z').store, { driver: 'sqlite' });
});

test('an unknown store driver is refused, naming it and the known ones', () => {
  configError({ driver: 'postgres' }, 'CONFIG_INVALID', /^config: store\.driver: unknown store driver "postgres"; one of: sqlite$/);
  configError({ driver: 3 }, 'CONFIG_INVALID', /store\.driver: unknown store driver 3; one of: sqlite/);
});

test('an unknown key under store is refused, naming it', () => {
  configError({ driver: 'sqlite', file: 'other.db' }, 'CONFIG_UNKNOWN_KEY', /unknown key "store\.file"/);
});

test('openStore opens <dataDir>/state.db, the file existing data directories hold', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zopen-'));
  const cfg = parseConfig({ ...minimal, dataDir: dir }, '/srv/z');
  assert.equal(dataLayout(cfg.dataDir).stateDb, path.join(dir, 'state.db'));
  const s = openStore(cfg);
  try {
    assert.ok(s instanceof SqliteStore);
    assert.ok(existsSync(path.join(dir, 'state.db')));
    await s.setMeta('probe', '1');
  } finally {
    await s.close();
  }
  // Reopened through the factory: the same file, the same data.
  const again = openStore(cfg);
  assert.equal(await again.getMeta('probe'), '1');
  await again.close();
});

test('the data directory layout keeps every on-disk name', () => {
  const l = dataLayout('/d');
  assert.deepEqual(
    [l.stateDb, l.collection, l.collectionDigests, l.log, l.logVerifierKey, l.digests, l.keys, l.botKey, l.botPublicKey, l.logKey,
      l.passphrase, l.redis, l.inbox, l.outbox, l.config, l.locks.collection, l.locks.log, l.locks.digests, l.resolve('keys/x'), l.resolve('/abs')],
    ['/d/state.db', '/d/collection', '/d/collection/digests', '/d/log', '/d/log/log.vkey', '/d/digests', '/d/keys', '/d/keys/bot.key',
      '/d/keys/bot.pub.asc', '/d/keys/log.key', '/d/keys/passphrase', '/d/redis', '/d/inbox', '/d/outbox', '/d/ztrust.yaml',
      '/d/collection/.git/ztrust-bot.lock', '/d/log/.lock', '/d/digests/.lock', '/d/keys/x', '/abs']);
  // The collection library names its own lock (it opens any directory); the layout must agree with it.
  assert.equal(l.locks.collection, collectionLockFile(l.collection));
});
