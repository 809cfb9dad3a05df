/**
 * The worker's WAL checkpoints on a thread of their own
 * (src/store/checkpoints.ts): the thread copies the log into the database
 * file while the worker's connection only appends, close() stops it and
 * leaves no log behind, and a thread that fails hands the checkpoints back
 * to the worker's connection.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { STORE_BOUNDS } from '../../src/limits.js';
import { BackgroundCheckpoints } from '../../src/store/checkpoints.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { storeContract } from './store-contract.js';

function tempDb(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), 'zckpt-')), 'state.db');
}

/** `n` spooled messages of 8 KB each (two pages or more apiece in the log). */
async function spoolMany(s: SqliteStore, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await s.spool({ key: `${tag}-${i}`, mailbox: 'imap://x', uidValidity: 1, uid: String(i), messageId: `<${tag}${i}@x>`,
      raw: Buffer.alloc(8192, i % 251), receivedAt: new Date().toISOString() });
  }
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const by = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > by) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

test('the checkpoint thread copies the log into the database file; the worker connection only appends', async () => {
  const file = tempDb();
  const s = SqliteStore.open(file);
  const failures: string[] = [];
  s.checkpointInBackground((r) => failures.push(r));
  // The worker's own connection checkpoints only past the backstop now.
  assert.equal(s.db.pragma('wal_autocheckpoint', { simple: true }), STORE_BOUNDS.walBackstopPages);
  const before = statSync(file).size;
  // ~600 pages: under SQLite's own 1,000 and the backstop, so no
  // checkpoint by this connection; only the thread grows the file.
  await spoolMany(s, 200, 'a');
  await until('the database file holds the spooled messages', () => statSync(file).size > before + 200 * 8192);
  // And again after more commits: it keeps going.
  const mid = statSync(file).size;
  await spoolMany(s, 100, 'b');
  await until('the second batch is copied too', () => statSync(file).size > mid + 100 * 8192);
  assert.deepEqual(failures, []);
  assert.equal((await s.getSpooled('b-99'))!.raw.length, 8192);
  await s.close();
});

test('close() with the thread running leaves no log behind and loses nothing', async () => {
  const file = tempDb();
  const s = SqliteStore.open(file);
  s.checkpointInBackground(() => assert.fail('no failure expected'));
  await spoolMany(s, 50, 'c');
  await s.close();
  // Removed only by the last connection to close: the thread's had closed.
  assert.equal(existsSync(`${file}-wal`), false, 'the write-ahead log is gone');
  const again = SqliteStore.open(file);
  assert.deepEqual(await again.spoolStates(['c-0', 'c-49']), new Map([['c-0', 'queued'], ['c-49', 'queued']]));
  await again.close();
});

test('close() waits for the thread; two closes at once both wait for the one close', async () => {
  const file = tempDb();
  const s = SqliteStore.open(file);
  s.checkpointInBackground(() => assert.fail('no failure expected'));
  // The handle is private: read here only to see when its thread ends.
  const thread = (s as unknown as { checkpoints: BackgroundCheckpoints }).checkpoints;
  await spoolMany(s, 20, 'e');
  await Promise.all([s.close(), s.close()]);
  assert.equal(thread.exitedAlready, true, 'the thread has exited when close() returns');
  assert.equal(existsSync(`${file}-wal`), false);
  // A third close later is the same close, done.
  await s.close();
});

test('a store whose worker never closes it does not keep the process alive', async () => {
  const file = tempDb();
  const child = spawnSync(process.execPath, ['--import', 'tsx', new URL('./store-checkpoints-child.ts', import.meta.url).pathname, file],
    { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.error, undefined, `the child did not exit by itself: ${child.error?.message}`);
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'written');
  // Nothing it committed is lost: the log is part of the database.
  const again = SqliteStore.open(file);
  assert.equal(await again.getMeta('child'), 'was here');
  await again.close();
});

test('in a backlog the log restarts past the backstop and its file is cut back to walKeepBytes', async () => {
  const file = tempDb();
  const s = SqliteStore.open(file);
  s.checkpointInBackground(() => assert.fail('no failure expected'));
  const wal = (): number => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
  // Past the backstop: 8 KB rows are two or three pages each.
  let i = 0;
  let peak = 0;
  while (i < STORE_BOUNDS.walBackstopPages / 2 + 500) {
    await spoolMany(s, 50, `f${i}`);
    i += 50;
    peak = Math.max(peak, wal());
  }
  assert.ok(peak > STORE_BOUNDS.walKeepBytes, `the log grew past ${STORE_BOUNDS.walKeepBytes} bytes (peak ${peak})`);
  // The restart comes with a later commit once the log is copied to its end.
  let n = 0;
  await until('the log file is cut back', () => {
    void s.setMeta('tick', String(n++));
    return wal() <= STORE_BOUNDS.walKeepBytes;
  }, 20_000);
  await s.close();
});

test('a thread that cannot open the database says so, and the worker connection checkpoints itself again', async () => {
  const file = tempDb();
  const s = SqliteStore.open(file);
  // The open connection keeps working on the file; the thread, opening it
  // by name, finds nothing there.
  unlinkSync(file);
  const failures: string[] = [];
  s.checkpointInBackground((r) => failures.push(r));
  await until('the failure is reported', () => failures.length > 0);
  assert.equal(failures.length, 1);
  assert.match(failures[0], /unable to open|does not exist|no such file/i);
  assert.equal(s.db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'back to SQLite\'s own rule');
  await spoolMany(s, 5, 'd');
  assert.equal((await s.getSpooled('d-4'))!.raw.length, 8192);
  await s.close();
});

test('BackgroundCheckpoints.stop() ends the thread even when its database never opened', async () => {
  const failures: string[] = [];
  const c = BackgroundCheckpoints.start(path.join(os.tmpdir(), 'zckpt-none', 'missing.db'), (r) => failures.push(r), 10);
  await until('the failure is reported', () => failures.length > 0);
  await c.stop();
  assert.equal(failures.length, 1);
});

// The whole store contract with the thread running beside each store.
const opened = new Map<object, string>();
storeContract('SQLite (file, WAL, checkpoint thread)', {
  async open() {
    const file = tempDb();
    const s = SqliteStore.open(file);
    s.checkpointInBackground((r) => assert.fail(`checkpoint thread failed: ${r}`));
    opened.set(s, file);
    return s;
  },
  async reopen(s) {
    await s.close();
    const again = SqliteStore.open(opened.get(s)!);
    again.checkpointInBackground((r) => assert.fail(`checkpoint thread failed: ${r}`));
    return again;
  },
  async connect(s) {
    return SqliteStore.open(opened.get(s)!);
  },
});
