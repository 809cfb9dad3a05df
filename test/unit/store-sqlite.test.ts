import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { THIS_SENDER } from '../../src/store/claim.js';
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
  // A reply the old worker was sending when it stopped: no claim recorded.
  db.prepare(`INSERT INTO outbox (id, spool_key, kind, envelope_from, recipients, message_id, raw, status, attempts, created_at)
    VALUES ('reply:m2', 'm2', 'reply', 'bot@x', '["b@x"]', '<r2@x>', ?, 'sending', 1, ?)`).run(Buffer.from('r2'), at);
  db.close();

  const s = SqliteStore.open(file);
  assert.equal(await s.getMeta('schema_version'), '5');
  const claim = await s.claimSending('reply:m2', THIS_SENDER);
  assert.ok('row' in claim, 'a row in flight before claims existed is sent by the next start');
  assert.equal(claim.row.attempts, 2);
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

test('reply budgets count exactly across minutes: whole minutes from the tallies, the first one from the rows', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-')), 'state.db');
  // Rows written by a store before the tallies existed, at chosen times:
  // the upgrade tallies them, so every minute but the edge one is read from
  // reply_counts.
  const s0 = SqliteStore.open(file);
  await s0.close();
  const db = new Database(file);
  db.exec("DELETE FROM meta WHERE key = 'migrated:reply-counts'; DELETE FROM reply_counts;");
  const t = Math.floor(Date.now() / 60_000) * 60_000 - 40 * 60_000; // a whole minute, 40 minutes ago
  const iso = (ms: number) => new Date(ms).toISOString();
  const rows: [string, number, string | null, string][] = [
    ['r1', t + 10_000, 'addr:a@x', 'reply'], // in the edge minute, before `since`
    ['r2', t + 20_000, 'addr:a@x', 'reply'], // the edge minute, at `since`
    ['r3', t + 50_000, 'addr:b@x', 'reply'], // the edge minute, after `since`
    ['r4', t + 60_000, 'addr:a@x', 'reply'], // the next whole minute
    ['r5', t + 30 * 60_000, 'addr:a@x', 'reply'],
    ['r6', t + 30 * 60_000, null, 'reply'], // a reply no budget was charged for: global only
    ['n1', t + 30 * 60_000, null, 'notice'], // a notice counts nowhere
  ];
  const ins = db.prepare(`INSERT INTO outbox (id, spool_key, kind, envelope_from, recipients, message_id, raw, created_at, budget)
    VALUES (?, NULL, ?, 'bot@x', '[]', ?, ?, ?, ?)`);
  for (const [id, ms, budget, kind] of rows) ins.run(id, kind, `<${id}@x>`, Buffer.from('r'), iso(ms), budget);
  db.close();
  const s = SqliteStore.open(file);
  const since = iso(t + 20_000);
  const spent = (key: string, perHour: number, globalPerHour: number | null = null) => s.replyBudgetSpent({ key, perHour, globalPerHour, since });
  // a@x: r2, r4, r5 since `since` (r1 is before it).
  assert.equal(await spent('addr:a@x', 4), null);
  assert.equal(await spent('addr:a@x', 3), 'sender');
  // b@x: r3 only.
  assert.equal(await spent('addr:b@x', 2), null);
  assert.equal(await spent('addr:b@x', 1), 'sender');
  // All replies since `since`: r2, r3, r4, r5, r6.
  assert.equal(await spent('addr:c@x', 10, 6), null);
  assert.equal(await spent('addr:c@x', 10, 5), 'global');
  // New replies are tallied as they are written, in the same transaction.
  await s.addOutbox([{ id: 'r7', spoolKey: null, kind: 'reply', envelopeFrom: 'bot@x', recipients: [], messageId: '<r7@x>', raw: Buffer.from('r'), budget: 'addr:b@x' }]);
  assert.equal(await spent('addr:b@x', 2), 'sender');
  assert.equal(await spent('addr:c@x', 10, 6), 'global');
  await s.close();
});
