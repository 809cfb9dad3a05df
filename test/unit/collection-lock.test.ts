/**
 * The collection lock follows the one lock rule (src/fsync/lock.ts). Before,
 * the collection broke a lock from another host once it was older than ten
 * minutes while the log never did: a worker on another host that was slow
 * but alive could have its collection write overrun.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Collection } from '../../src/collection/collection.js';
import { CollectionError } from '../../src/collection/errors.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function collectionWithLock(record: object): Promise<{ c: Collection; lock: string; text: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-collock-'));
  dirs.push(dir);
  const c = await Collection.open(dir, { lock: { timeoutMs: 200 } });
  const lock = path.join(dir, '.git', 'ztrust-bot.lock');
  const text = JSON.stringify(record);
  writeFileSync(lock, text);
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(lock, hourAgo, hourAgo);
  return { c, lock, text };
}

test('a collection lock held on another host is never broken, however old: COLLECTION_LOCKED names host, pid and the fix', async () => {
  const { c, lock, text } = await collectionWithLock({ pid: 777, host: 'worker-2.example', nonce: 'n', created: '2026-01-01T00:00:00.000Z' });
  let ran = false;
  await assert.rejects(c.apply(async () => { ran = true; }, { message: 'x', signer: null }), (e: unknown) => {
    assert.ok(e instanceof CollectionError, String(e));
    assert.equal(e.code, 'COLLECTION_LOCKED');
    assert.match(e.message, /held by pid 777 on host worker-2\.example/);
    assert.match(e.message, /never broken automatically: once pid 777 on worker-2\.example is known to be gone, remove .*ztrust-bot\.lock/);
    return true;
  });
  assert.equal(ran, false);
  assert.equal(readFileSync(lock, 'utf8'), text, 'the lock is untouched');
  // The start-up recovery does not treat it as the bot's own interrupted write either.
  assert.equal(await Collection.recoverInterrupted(c.dir, { lock: { timeoutMs: 200 } }), null);
  assert.equal(readFileSync(lock, 'utf8'), text);
});

test('a collection lock whose holder on this host is dead is taken over', async () => {
  const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
  const { c, lock } = await collectionWithLock({ pid: dead, host: hostname(), nonce: 'n', created: '2026-01-01T00:00:00.000Z' });
  const r = await c.apply(async () => 'applied', { message: 'x', signer: null });
  assert.equal(r.result, 'applied');
  assert.equal(existsSync(lock), false);
});
