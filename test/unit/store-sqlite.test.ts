import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import { StoreError } from '../../src/errors.js';
import { storeContract } from './store-contract.js';

const files = new Map<object, string>();

storeContract('SQLite (file, WAL)', {
  async open() {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-')), 'state.db');
    const s = SqliteStore.open(file);
    files.set(s, file);
    return s;
  },
  async reopen(s) {
    const file = files.get(s)!;
    await s.close();
    return SqliteStore.open(file);
  },
  async connect(s) {
    return SqliteStore.open(files.get(s)!);
  },
  // The child opens it the way the bot does: the factory, from a config.
  childOpener(s) {
    return { module: new URL('../../src/store/open.ts', import.meta.url).href, fn: 'openStore',
      args: [{ dataDir: path.dirname(files.get(s)!), store: { driver: 'sqlite' } }] };
  },
});

storeContract('SQLite (memory)', { async open() { return SqliteStore.open(':memory:'); } });

test('the SQLite store runs in WAL mode, synchronous=NORMAL', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-')), 'state.db');
  const s = SqliteStore.open(file);
  assert.equal(s.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(s.db.pragma('synchronous', { simple: true }), 1);
  await s.close();
});

test('a store written by a newer version is refused, not corrupted', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-')), 'state.db');
  await SqliteStore.open(file).close();
  const db = new Database(file);
  db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
  db.close();
  assert.throws(() => SqliteStore.open(file), (e: unknown) => e instanceof StoreError && e.code === 'STORE_SCHEMA');
});

test('an unopenable path is STORE_OPEN', () => {
  // The parent "directory" is a regular file.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zstore-'));
  writeFileSync(path.join(dir, 'file'), 'x');
  assert.throws(() => SqliteStore.open(path.join(dir, 'file', 'state.db')), (e: unknown) => e instanceof StoreError && e.code === 'STORE_OPEN');
});

test('an existing version 3 state.db is upgraded: earlier messages stay duplicates, earlier replies stay counted', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-')), 'state.db');
  // The layout of a version 3 store, as the previous release wrote it.
  const db = new Database(file);
  db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('schema_version', '3');
    CREATE TABLE spool (key TEXT PRIMARY KEY, mailbox TEXT NOT NULL, uid_validity INTEGER NOT NULL, uid TEXT NOT NULL,
      message_id TEXT, raw BLOB NOT NULL, received_at TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'queued', outcome TEXT, sender TEXT, command TEXT, verdict TEXT, done_at TEXT);
    CREATE TABLE processed (message_key TEXT PRIMARY KEY, spool_key TEXT NOT NULL, at TEXT NOT NULL);
    CREATE TABLE outbox (id TEXT PRIMARY KEY, spool_key TEXT, kind TEXT NOT NULL, envelope_from TEXT NOT NULL, recipients TEXT NOT NULL,
      message_id TEXT NOT NULL, raw BLOB NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
      last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT);
    CREATE TABLE outbox_recipients (outbox_id TEXT NOT NULL, address TEXT NOT NULL, created_at TEXT NOT NULL);`);
  const raw = Buffer.from('Message-ID: <old@x>\r\n\r\nHELP\r\n');
  const at = new Date().toISOString();
  db.prepare(`INSERT INTO spool (key, mailbox, uid_validity, uid, message_id, raw, received_at, state, outcome) VALUES ('m1', 'INBOX', 1, '1', '<old@x>', ?, ?, 'done', 'help')`).run(raw, at);
  db.prepare(`INSERT INTO processed VALUES ('mid:<old@x>', 'm1', ?)`).run(at);
  db.prepare(`INSERT INTO outbox (id, spool_key, kind, envelope_from, recipients, message_id, raw, created_at) VALUES ('reply:m1', 'm1', 'reply', 'bot@x', '["a@x"]', '<r@x>', ?, ?)`).run(Buffer.from('r'), at);
  db.prepare(`INSERT INTO outbox_recipients VALUES ('reply:m1', 'a@x', ?)`).run(at);
  db.close();

  const s = SqliteStore.open(file);
  assert.equal(await s.getMeta('schema_version'), '4');
  const digest = createHash('sha256').update(raw).digest('hex');
  assert.equal(await s.isProcessed(`mid:<old@x>#raw:${digest}`), true, 'the same bytes fetched again (new UIDVALIDITY) are a duplicate');
  assert.equal(await s.isProcessed('mid:<old@x>'), false);
  assert.equal((await s.getOutbox('reply:m1'))?.budget, 'addr:a@x');
  assert.equal(await s.replyBudgetSpent({ key: 'addr:a@x', perHour: 1, globalPerHour: null, since: new Date(Date.now() - 3600_000).toISOString() }), 'sender');
  await s.close();
  // Opening again changes nothing more.
  const s2 = SqliteStore.open(file);
  assert.equal(await s2.isProcessed(`mid:<old@x>#raw:${digest}`), true);
  await s2.close();
});
