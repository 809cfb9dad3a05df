/**
 * The spool's declared size (issue 8, item 4): an oversize message is not
 * fetched whole, only its header section is spooled, with the size the
 * mailbox declared. The column is new, so an existing state.db must be
 * upgraded in place, its rows kept.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';

const tmpDb = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'zstore-')), 'state.db');
const rec = (key: string, declaredSize?: number | null) => ({
  key, mailbox: 'imap://x', uidValidity: 7, uid: key, messageId: `<${key}@x>`, raw: Buffer.from('From: a@example.org\r\n\r\n'),
  receivedAt: new Date().toISOString(), ...(declaredSize === undefined ? {} : { declaredSize }),
});

test('the declared size of a header-only spool row is kept; a whole message has none', async () => {
  const file = tmpDb();
  let s = SqliteStore.open(file);
  await s.spool(rec('big', 50 * 1024 * 1024));
  await s.spool(rec('whole'));
  await s.close();
  s = SqliteStore.open(file);
  assert.equal((await s.getSpooled('big'))?.declaredSize, 50 * 1024 * 1024);
  assert.equal((await s.getSpooled('whole'))?.declaredSize, null);
  await s.close();
});

test('a state.db from before the declared_size column is upgraded in place and keeps its rows', async () => {
  const file = tmpDb();
  // The spool table and meta row exactly as schema version 3 wrote them.
  const old = new Database(file);
  old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('schema_version', '3');
CREATE TABLE spool (
  key TEXT PRIMARY KEY, mailbox TEXT NOT NULL, uid_validity INTEGER NOT NULL, uid TEXT NOT NULL,
  message_id TEXT, raw BLOB NOT NULL, received_at TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued', outcome TEXT, sender TEXT, command TEXT, verdict TEXT, done_at TEXT);`);
  old.prepare('INSERT INTO spool (key, mailbox, uid_validity, uid, message_id, raw, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run('old', 'imap://x', 7, '1', '<old@x>', Buffer.from('old message'), '2026-01-01T00:00:00.000Z');
  old.close();

  const s = SqliteStore.open(file);
  const kept = await s.getSpooled('old');
  assert.equal(kept?.raw.toString(), 'old message');
  assert.equal(kept?.state, 'queued');
  assert.equal(kept?.declaredSize, null);
  assert.deepEqual(await s.pendingSpool(), ['old']);
  await s.spool(rec('new', 2_000_000));
  assert.equal((await s.getSpooled('new'))?.declaredSize, 2_000_000);
  await s.close();
  // Opening again does not try to add the column twice.
  await SqliteStore.open(file).close();
});
