/**
 * Attack: a Message-ID chosen to pre-empt someone else's request. Anyone
 * can set a Message-ID; one sent ahead with the Message-ID a maintainer's
 * mail client will give her APPROVE (predictable, or read off a list copy)
 * used to make the real APPROVE a "duplicate": no vote, no reply. A
 * Message-ID now makes a duplicate only together with the same content (the
 * raw bytes, or the signed part of signed mail); the spool key (mailbox,
 * UIDVALIDITY, UID) stays the server's own guarantee.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TO_BOT, community, newcomer, type Person, type World } from '../unit/commands-world.js';
import { botMail, deliver, snapshot } from './reply-gate.js';

async function ticketFor(w: World, by: Person[]) {
  const dave = await newcomer('Dave Newcomer', 'dave@people.test', by);
  const s = await w.send(await w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
  return (await w.store.getTicket(s.replies[0].fields.Ticket))!;
}

test('an unsigned mail carrying the Message-ID of a coming APPROVE does not silence it', async () => {
  const { w, alice, bob, carol } = await community({ threshold: 2 });
  const t = await ticketFor(w, [alice, bob]);
  const mid = '<approve.0001@people.test>';

  // Mallory, unsigned, as From: Alice, with Alice's coming Message-ID.
  const before = await snapshot(w);
  const pre = await deliver(w, await w.mail(null, 'HELP\n', { messageId: mid, from: 'Alice Mainframe <alice@people.test>' }));
  assert.equal(pre.outcome, 'help');
  assert.equal(await snapshot(w), before, 'the pre-emptive mail changed nothing');

  const real = await deliver(w, await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}\n`, { messageId: mid }));
  assert.equal(real.result.applied, true, 'the real APPROVE is not a duplicate');
  assert.equal(real.outcome, `APPROVE:recorded:${t.id}`);
  assert.equal(real.stored, `APPROVE:recorded:${t.id}`);
  assert.deepEqual((await w.store.getVotes(t.id)).map((v) => [v.voter, v.vote]), [[alice.fpr, 'approve']]);
  assert.equal(real.outbox.length, 1);
  await botMail(w, real.outbox[0], 'pending');

  // The same for a signed pre-emption by another member (content differs).
  const mid2 = '<approve.0002@people.test>';
  const pre2 = await deliver(w, await w.mail(carol, 'HELP\n', { messageId: mid2 }));
  assert.equal(pre2.outcome, 'help');
  const real2 = await deliver(w, await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}\n`, { messageId: mid2 }));
  assert.equal(real2.outcome, `APPROVE:approved:${t.id}`);
  assert.equal((await w.store.getTicket(t.id))!.state, 'approved');
});

test('the same message delivered twice, or re-fetched after a UIDVALIDITY change, is processed once', async () => {
  const { w, alice, bob } = await community({ threshold: 2 });
  const t = await ticketFor(w, [alice, bob]);
  const raw = await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}\n`, { messageId: '<once@people.test>' });
  const first = await deliver(w, raw);
  assert.equal(first.outcome, `APPROVE:recorded:${t.id}`);
  const after = await snapshot(w);
  const outbox = (await w.store.listOutbox()).length;

  // Same bytes under a new spool key (another UID, or a new UIDVALIDITY).
  const again = await deliver(w, raw);
  assert.equal(again.result.applied, false);
  assert.equal(again.result.reason, 'duplicate-message');
  assert.equal(again.stored, 'duplicate');
  // A list that re-wraps the same signed part (new headers, a footer) is the same message too.
  const wrapped = Buffer.concat([Buffer.from('Received: from list.people.test\r\nX-Mailing-List: linux-390\r\n'), raw]);
  const third = await deliver(w, wrapped);
  assert.equal(third.result.reason, 'duplicate-message');
  assert.equal(third.stored, 'duplicate');

  assert.equal((await w.store.listOutbox()).length, outbox, 'no second reply');
  assert.equal(await snapshot(w), after, 'one vote, nothing else');
  assert.equal((await w.store.getVotes(t.id)).length, 1);
});
