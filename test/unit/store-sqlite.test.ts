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
  (await SqliteStore.open(file)).close();
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
