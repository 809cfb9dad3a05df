/**
 * Attack: forged From uses up someone's replies. Twenty unsigned mails forged
 * as From: Alice used to exhaust her hourly replies, so her real signed
 * request got no answer. A request with a good signature by a collection key
 * now has its own budget, keyed by the signer's fingerprint; unsigned mail
 * (and mail signed by keys outside the collection, which anyone can make)
 * shares the budget of the address it claims.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TO_BOT, community, newcomer, person } from '../unit/commands-world.js';
import { botMail, deliver, snapshot } from './reply-gate.js';

test('20 forged unsigned mails as From: Alice do not silence her signed requests', async () => {
  const { w, alice, bob } = await community({ config: { limits: { maxRepliesPerSenderPerHour: 20 } } });
  const dave = await newcomer('Dave Newcomer', 'dave@people.test', [alice, bob]);
  const sub = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
  const t = (await w.store.getTicket(sub.replies[0].fields.Ticket))!;
  const forged = 'Alice Mainframe <alice@people.test>';

  for (let i = 0; i < 20; i++) {
    const r = await deliver(w, await w.mail(null, 'HELP\n', { from: forged }));
    assert.equal(r.outcome, 'help');
  }
  const before = await snapshot(w);
  // The address budget is spent: more unsigned mail, or mail signed by a
  // key outside the collection (made by the attacker just now), gets nothing.
  const unsigned = await deliver(w, await w.mail(null, 'HELP\n', { from: forged }));
  assert.equal(unsigned.outcome, 'rate-limited:HELP');
  assert.deepEqual(unsigned.outbox, []);
  const mallory = await person('Mallory', 'alice@people.test');
  const outsider = await deliver(w, await w.mail(mallory, 'HELP\n'));
  assert.equal(outsider.outcome, 'rate-limited:HELP');
  assert.deepEqual(outsider.outbox, []);
  const outsiderVote = await deliver(w, await w.mail(mallory, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}\n`));
  assert.equal(outsiderVote.outcome, 'rate-limited:refused:nokey');
  assert.deepEqual(outsiderVote.outbox, []);
  assert.equal(await snapshot(w), before, 'nothing changed');

  // Alice's own signed requests are answered: a read-only one and a vote.
  const help = await deliver(w, await w.mail(alice, 'HELP\n'));
  assert.equal(help.outcome, 'help');
  assert.deepEqual(help.outbox.map((o) => o.recipients), [['alice@people.test']]);
  await botMail(w, help.outbox[0], 'found');
  const vote = await deliver(w, await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}\n`));
  assert.equal(vote.outcome, `APPROVE:recorded:${t.id}`);
  assert.deepEqual(vote.outbox.map((o) => o.recipients), [['alice@people.test']]);
  await botMail(w, vote.outbox[0], 'pending');
  assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [alice.fpr]);
});

test('a signer\'s budget is her own: her signed requests are limited by fingerprint, whatever From they claim', async () => {
  const { w, alice } = await community({ config: { limits: { maxRepliesPerSenderPerHour: 2 } } });
  const outcomes: string[] = [];
  for (const from of ['alice@people.test', 'alice@other.test', 'a.mainframe@people.test']) {
    outcomes.push((await deliver(w, await w.mail(alice, 'HELP\n', { from }))).outcome);
  }
  assert.deepEqual(outcomes, ['help', 'help', 'rate-limited:HELP']);
  // The addresses' own (unsigned) budgets were not touched.
  assert.equal((await deliver(w, await w.mail(null, 'HELP\n', { from: 'alice@other.test' }))).outcome, 'help');
});
