/**
 * Attack: state.db is lost (deleted, or replaced by an empty one) and an
 * old, already-logged ATTEST is sent again. The used-signature table went
 * with state.db, so without a check the worker would start quietly, accept
 * the replay as new and log it a second time (and reuse ticket ZT-000001).
 * The log still holds the first entry: the worker must refuse to start,
 * name state.db and the repair, and touch nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite.js';
import { runCli } from '../integration/bot.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { BOT, removeStore, stateWorld, statusOf, type StateWorld } from '../unit/state-world.js';

const worlds: StateWorld[] = [];
after(async () => {
  for (const w of worlds) await w.gpg.cleanup();
});

async function attestedThenLost(emptyStore: boolean) {
  const w = await stateWorld();
  worlds.push(w);
  const alice = w.members[0];
  const raw = await w.mail(alice, `ATTEST\nTo: ${BOT}\n${createHash('sha256').update('release-1').digest('hex')}  release-1.tar.gz\n`);
  const first = await w.deliver(raw);
  assert.deepEqual(first.applied.map((a) => a.state), ['applied']);
  const notice = first.mails.find((m) => statusOf(m) === 'applied');
  assert.ok(notice, 'the first ATTEST is logged and answered');
  await assertBotMail(notice.raw, w.botPublicKey);
  assert.equal(await w.logSize(), 1);
  await w.close();

  removeStore(w.cfg);
  if (emptyStore) await SqliteStore.open(path.join(w.cfg.dataDir, 'state.db')).close();
  // The replay: the very same signed message, back in the mailbox.
  const dropped = w.drop(raw, 'replay');
  const r = await runCli(['run', '--once', '--config', w.configPath], { ...process.env, ZTRUST_LOG_LEVEL: 'error' }, 60_000);
  return { w, r, dropped };
}

function assertNothingDone(w: StateWorld, dropped: string): void {
  const outbox = path.join(w.dir, 'outbox');
  assert.deepEqual(existsSync(outbox) ? readdirSync(outbox).filter((n) => n.endsWith('.eml')) : [], [], 'no mail was sent');
  assert.equal(existsSync(dropped), true, 'the replayed message was not taken from the mailbox');
}

test('state.db deleted, old ATTEST replayed: run --once refuses to start (exit 2), nothing appended or answered', async () => {
  const { w, r, dropped } = await attestedThenLost(false);
  assert.equal(r.code, 2, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /ztrust-bot: STATE_STORE_MISSING: state\.db is missing or empty, but the log has 1 entries \[[^\]]*\/state\.db\]; repair: stop the bot, restore state\.db from the last backup/);
  assert.match(r.stderr, /refusing to start/);
  assert.equal(await w.logSize(), 1, 'the log still holds only the first attestation');
  assert.equal(existsSync(path.join(w.cfg.dataDir, 'state.db')), false, 'state.db is not recreated empty');
  assertNothingDone(w, dropped);
});

test('state.db replaced by an empty one: the same refusal, nothing recorded in it', async () => {
  const { w, r, dropped } = await attestedThenLost(true);
  assert.equal(r.code, 2, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /STATE_STORE_MISSING: state\.db knows none of the log's 1 entries/);
  assert.equal(await w.logSize(), 1);
  const store = SqliteStore.open(path.join(w.cfg.dataDir, 'state.db'));
  assert.deepEqual(await store.listTickets(), []);
  assert.equal((await store.listOutbox()).length, 0);
  await store.close();
  assertNothingDone(w, dropped);
});
