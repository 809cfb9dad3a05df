/**
 * Attack/fault: a stale `.git/index.lock` in the collection (a crashed or
 * concurrent git). Without a check the apply logged the change, failed to
 * commit, could not roll the tree back, and on the queue's retry found the
 * key "already there" and told the member "applied": a log entry with no
 * commit, and files the next commit would publish. Now the apply refuses
 * before anything is written, is never reported "applied" without its
 * commit, and once the lock is removed commits exactly once, with the log
 * entry it made.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { applyChange } from '../../src/changes/apply.js';
import { silentLogger } from '../../src/logger.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { BOT, openTicket, stateWorld, statusOf, type StateWorld } from '../unit/state-world.js';

const worlds: StateWorld[] = [];
after(async () => {
  for (const w of worlds) {
    await w.close().catch(() => undefined);
    await w.gpg.cleanup();
  }
});

function status(dir: string): string {
  return execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=all'], { env: { PATH: process.env.PATH, HOME: dir } }).toString();
}

/** A ticket approved by two maintainers, its change queued (the apply not run yet). */
async function approved() {
  const w = await stateWorld();
  worlds.push(w);
  const [alice, bob] = w.members;
  const { ticket, digest } = await openTicket(w);
  await w.deliver(await w.mail(alice, `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`), { apply: false });
  await w.deliver(await w.mail(bob, `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`), { apply: false });
  const [change] = await w.app.store.pendingChanges();
  assert.ok(change, 'the approval queued the change');
  const col = path.join(w.cfg.dataDir, 'collection');
  return { w, ticket, change, col, lock: path.join(col, '.git', 'index.lock'), head: await w.head(), size: await w.logSize() };
}

async function appliedNotices(w: StateWorld) {
  return (await w.app.store.listOutbox()).filter((m) => m.kind === 'notice' && statusOf(m) === 'applied');
}

async function assertUnchanged(s: Awaited<ReturnType<typeof approved>>, logSize: number) {
  assert.equal(await s.w.head(), s.head, 'no commit');
  assert.equal(status(s.col), '', 'the work tree is the last commit');
  assert.equal(await s.w.logSize(), logSize);
  assert.equal((await s.w.app.store.getChange(s.change))!.state, 'queued', 'the change stays queued');
  assert.equal((await s.w.app.store.getTicket(s.ticket))!.state, 'approved');
  assert.deepEqual(await appliedNotices(s.w), [], 'nobody is told "applied"');
}

async function assertAppliedOnce(s: Awaited<ReturnType<typeof approved>>) {
  const [o] = await s.w.applyAll();
  assert.equal(o.state, 'applied');
  assert.notEqual(o.commit, null);
  assert.equal(await s.w.logSize(), s.size + 1, 'exactly one log entry for the change');
  const msg = execFileSync('git', ['-C', s.col, 'log', '-1', '--format=%B'], { env: { PATH: process.env.PATH, HOME: s.col } }).toString();
  assert.match(msg, new RegExp(`^Ztrust-Log-Index: ${s.size}$`, 'm'), 'the commit names the log entry');
  assert.match(msg, new RegExp(`^Ztrust-Ticket: ${s.ticket}$`, 'm'));
  assert.equal(status(s.col), '');
  const notices = await appliedNotices(s.w);
  assert.equal(notices.length, 1);
  await assertBotMail(notices[0].raw, s.w.botPublicKey);
  assert.match(notices[0].raw.toString('latin1'), new RegExp(`Log-Index: ${s.size}`));
}

test('a stale index.lock before the apply: refused with nothing written (every retry), then applied once when removed', async () => {
  const s = await approved();
  writeFileSync(s.lock, '');
  for (let attempt = 0; attempt < 3; attempt++) {
    // The queue retries a failed apply: no retry may turn into "applied".
    await assert.rejects(s.w.applyAll(), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'STATE_COLLECTION_LOCKED');
      assert.match(e.message, /index\.lock exists: .*repair: make sure no git process runs in .* then remove .*index\.lock/);
      return true;
    });
  }
  await assertUnchanged(s, s.size);
  rmSync(s.lock);
  await assertAppliedOnce(s);
});

test('an index.lock appearing between the log entry and the commit: no "applied", the retry commits that entry', async () => {
  const s = await approved();
  const app = s.w.app;
  const deps = {
    config: s.w.cfg, store: app.store, signer: app.signer, policy: app.policy, logger: silentLogger,
    // A git process takes the lock right after the log append.
    logAppend: async (entry: Parameters<NonNullable<typeof app.logAppend>>[0], id: string) => {
      const i = await app.logAppend!(entry, id);
      writeFileSync(s.lock, '');
      return i;
    },
  };
  await assert.rejects(applyChange(s.change, deps));
  // The log entry exists (the log cannot be undone); the change remembers it.
  assert.equal(await s.w.logSize(), s.size + 1);
  assert.equal((await app.store.getChange(s.change))!.logIndex, s.size);
  await assert.rejects(applyChange(s.change, deps), (e: Error & { code?: string }) => e.code === 'STATE_COLLECTION_LOCKED');
  await assertUnchanged(s, s.size + 1);
  rmSync(s.lock);
  await assertAppliedOnce({ ...s });
});
