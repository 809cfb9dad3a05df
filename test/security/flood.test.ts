/**
 * Floods. 1,000 VERIFY requests from one address get at most the configured
 * replies per hour; the rest are counted (their outcome says
 * `rate-limited:...`, kept on the spool row) and dropped without running
 * the handler. Other senders in the same minute are all answered. A global
 * cap on unsigned-mail replies per hour protects the bot's mail reputation
 * from a flood spread over many forged addresses; requests signed by
 * collection keys keep their own (per-key) budget under it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LogService } from '../../src/ledger/service.js';
import { silentLogger } from '../../src/logger.js';
import { generateLogKey } from '../../src/tlog/index.js';
import { community } from '../unit/commands-world.js';
import { botMail, deliver, snapshot } from './reply-gate.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function withLog(limits: Record<string, number>) {
  const c = await community({ config: { limits } });
  const k = generateLogKey(c.w.cfg.log.origin);
  mkdirSync(path.join(c.w.cfg.dataDir, 'keys'), { recursive: true });
  writeFileSync(path.join(c.w.cfg.dataDir, 'keys', 'log.key'), `${k.skey}\n`, { mode: 0o600 });
  await LogService.fromConfig(c.w.cfg, c.w.store, silentLogger);
  return c;
}

async function dropped(w: { store: { db: { prepare(sql: string): { get(...a: unknown[]): unknown } } } }, prefix: string): Promise<number> {
  return (w.store.db.prepare('SELECT COUNT(*) AS n FROM spool WHERE outcome LIKE ?').get(`${prefix}%`) as { n: number }).n;
}

test('1,000 VERIFY from one address: 20 replies, 980 counted and dropped; other senders all answered', async () => {
  const { w } = await withLog({ maxRepliesPerSenderPerHour: 20 });
  const before = await snapshot(w);
  const counts = new Map<string, number>();
  const replies = [];
  for (let i = 0; i < 1000; i++) {
    const r = await deliver(w, await w.mail(null, `VERIFY ${sha256(`artifact ${i}`)}\n`, { from: 'Flood <flood@people.test>' }));
    counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
    replies.push(...r.outbox);
  }
  assert.deepEqual(Object.fromEntries(counts), { 'VERIFY:not-found': 20, 'rate-limited:VERIFY': 980 });
  assert.equal(replies.length, 20);
  assert.equal(await dropped(w, 'rate-limited:'), 980, 'the dropped requests are counted in the store');
  for (const o of replies.slice(0, 2)) await botMail(w, o, 'not-found');

  // Ten other senders in the same minute: every one answered.
  for (let i = 0; i < 10; i++) {
    const r = await deliver(w, await w.mail(null, `VERIFY ${sha256(`other ${i}`)}\n`, { from: `user${i}@people.test` }));
    assert.equal(r.outcome, 'VERIFY:not-found');
    assert.deepEqual(r.outbox.map((o) => o.recipients), [[`user${i}@people.test`]]);
  }
  assert.equal((await w.store.listOutbox()).length, 30);
  assert.equal(await snapshot(w), before, 'nothing changed');
});

test('the global cap: unsigned replies stop at limits.maxRepliesPerHour; members are still answered', async () => {
  const { w, alice, bob } = await withLog({ maxRepliesPerSenderPerHour: 5, maxRepliesPerHour: 12 });
  const before = await snapshot(w);
  const outcomes: string[] = [];
  for (let i = 0; i < 15; i++) {
    const r = await deliver(w, await w.mail(null, `VERIFY ${sha256(`g ${i}`)}\n`, { from: `forged${i}@people.test` }));
    outcomes.push(r.outcome);
  }
  assert.deepEqual(outcomes, [...Array<string>(12).fill('VERIFY:not-found'), ...Array<string>(3).fill('rate-limited-global:VERIFY')]);
  assert.equal(await dropped(w, 'rate-limited-global:'), 3);
  assert.equal((await w.store.listOutbox()).length, 12);

  // A signed request by a collection key is answered beyond the cap.
  for (const p of [alice, bob]) {
    const r = await deliver(w, await w.mail(p, `VERIFY ${sha256('signed')}\n`));
    assert.equal(r.outcome, 'VERIFY:not-found');
    await botMail(w, r.outbox[0], 'not-found');
  }
  assert.equal(await snapshot(w), before, 'nothing changed');
});
