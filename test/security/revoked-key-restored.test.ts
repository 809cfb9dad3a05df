/**
 * Attack: Carol's key was revoked (REVOKE KEY, logged and committed). Someone
 * with write access to the data directory puts her key file back to its old,
 * unrevoked copy. Without a check the worker reads the old copy, counts
 * Carol's APPROVE, and the next commit (`git add -A`) re-publishes the
 * unrevoked key under another change. Now the start check finds the file
 * (uncommitted: it differs from the last commit; committed by hand: it
 * disagrees with the log's revocation), the worker refuses to start, her
 * vote is not counted and nothing is published.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { collectionOf } from '../../src/changes/apply.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { runCli } from '../integration/bot.js';
import { BOT, openTicket, revocationOf, stateWorld, statusOf, type StateWorld } from '../unit/state-world.js';

const worlds: StateWorld[] = [];
after(async () => {
  for (const w of worlds) {
    await w.close().catch(() => undefined);
    await w.gpg.cleanup();
  }
});

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], { env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: '1' } }).toString();
}

/** Carol revoked, a ticket with Alice's vote, then Carol's old key file put back. */
async function restored(commitIt: boolean) {
  const w = await stateWorld();
  worlds.push(w);
  const [alice, , carol] = w.members;
  const col = await collectionOf(w.cfg);
  const file = (await col.findKeys(carol.fpr))[0].file;
  const old = readFileSync(path.join(col.dir, file));
  const rev = await w.deliver(await w.mail(carol, `REVOKE KEY\n\n${revocationOf(w, carol.fpr)}`));
  assert.deepEqual(rev.applied.map((a) => a.state), ['applied'], rev.outcome);
  const { ticket, digest } = await openTicket(w);
  await w.deliver(await w.mail(alice, `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`));
  const vote = await w.mail(carol, `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`);
  const published = git(col.dir, 'show', `HEAD:${file}`);
  const size = await w.logSize();
  await w.close();

  writeFileSync(path.join(col.dir, file), old);
  if (commitIt) git(col.dir, '-c', 'user.name=Mallory', '-c', 'user.email=m@x', 'commit', '-q', '-am', 'fix key');
  const head = git(col.dir, 'rev-parse', 'HEAD');
  const dropped = w.drop(vote, 'carol-vote');
  const r = await runCli(['run', '--once', '--config', w.configPath], { ...process.env, ZTRUST_LOG_LEVEL: 'error' }, 60_000);
  return { w, r, ticket, col: col.dir, file, published, size, head, dropped };
}

async function assertNothingDone(s: Awaited<ReturnType<typeof restored>>) {
  assert.equal(s.r.code, 2, `exit status; stderr: ${s.r.stderr}`);
  assert.equal(git(s.col, 'rev-parse', 'HEAD'), s.head, 'no commit');
  assert.equal(await s.w.logSize(), s.size, 'no log entry');
  assert.equal(existsSync(s.dropped), true, "Carol's APPROVE was not read");
  const store = SqliteStore.open(path.join(s.w.cfg.dataDir, 'state.db'));
  try {
    assert.deepEqual((await store.getVotes(s.ticket)).map((v) => v.voter), [s.w.members[0].fpr], 'only Alice voted');
    assert.equal((await store.getTicket(s.ticket))!.state, 'pending');
    assert.deepEqual((await store.listOutbox()).filter((m) => statusOf(m) === 'applied' && m.id.includes(s.ticket)), []);
  } finally {
    await store.close();
  }
  const outbox = path.join(s.w.dir, 'outbox');
  assert.deepEqual(existsSync(outbox) ? readdirSync(outbox).filter((n) => n.endsWith('.eml')) : [], []);
}

test('the revoked key file put back (not committed): the start refuses, naming the file; Carol cannot vote; nothing is re-published', async () => {
  const s = await restored(false);
  assert.match(s.r.stderr, new RegExp(`STATE_COLLECTION_DIRTY: collection file ${s.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} differs from the last commit`));
  assert.match(s.r.stderr, /repair: look at `git -C .* status`.*checkout -- /);
  await assertNothingDone(s);
  assert.equal(git(s.col, 'show', `HEAD:${s.file}`), s.published, 'the committed copy is still the revoked one');
});

test('the revoked key file put back and committed by hand: the start refuses, the file disagrees with the log', async () => {
  const s = await restored(true);
  assert.match(s.r.stderr, /STATE_COLLECTION_DIVERGED: log entry \d+ revoked key [0-9A-F]{40}, but pgp\/all\/.* is not revoked \(an older copy was put back\)/);
  await assertNothingDone(s);
});
