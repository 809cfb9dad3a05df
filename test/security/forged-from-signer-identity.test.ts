/**
 * Attack: Mallory puts Alice's address in From: on a mail that carries a
 * valid signature by another collection key (Bob's). DESIGN.md: "Identity
 * is always the verified signing key, never a From: header." So the vote
 * belongs to the signer (Bob) and never to the From: address (Alice); the
 * ticket a SUBMIT KEY opens is the signer's key, whatever From: claims.
 * The reply goes to the From: address (that is where replies go), so the
 * forged From: gains the attacker nothing but a copy of Bob's receipt.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat, newcomer, pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { sendChecked } from './world.js';

describe('security: forged From with another collection key\'s valid signature', () => {
  test('an APPROVE signed by Bob under Alice\'s From: is Bob\'s vote, never Alice\'s', async () => {
    const { w, alice, bob, t } = await pendingTicket();
    const s = await sendChecked(w, await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`, { signWith: bob.key }));
    assert.equal(s.outcome, `APPROVE:recorded:${t.id}`);
    assert.equal(s.replies.length, 1);
    assert.equal(s.replies[0].status, 'pending');
    assert.deepEqual(s.replies[0].to, ['alice@people.test']);
    assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [bob.fpr]);
    // Alice can still vote herself: the forged mail used nothing of hers.
    const a = await sendChecked(w, await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(a.outcome, `APPROVE:approved:${t.id}`);
  });

  test('a second "vote" by Bob under Carol\'s From: is refused as Bob\'s double vote; nothing changes', async () => {
    const { w, bob, carol, t } = await pendingTicket({ threshold: 3 });
    const first = await sendChecked(w, await w.mail(bob, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(first.outcome, `APPROVE:recorded:${t.id}`);
    const before = await stateOf(w);
    const s = await sendChecked(w, await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`, { signWith: bob.key }));
    assert.equal(s.outcome, 'APPROVE:refused:already-voted');
    assert.equal(s.replies.length, 1);
    assert.equal(s.replies[0].status, 'error');
    assert.match(flat(s.replies[0].text), /Your APPROVE request was refused\. Nothing was changed\. Rule: already-voted/);
    assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [bob.fpr]);
    assert.deepEqual(await stateOf(w), before);
  });

  test('a SUBMIT KEY under a forged From: opens a ticket for the signing key only', async () => {
    const { w, alice, bob } = await pendingTicket();
    const erin = await newcomer('Erin', 'erin@people.test', [alice, bob]);
    const s = await sendChecked(w, await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${erin.certified.armor()}`, { from: 'Alice Mainframe <alice@people.test>' }));
    assert.equal(s.replies[0].status, 'pending');
    const t = (await w.store.getTicket(s.replies[0].fields.Ticket))!;
    assert.deepEqual(s.replies[0].to, ['alice@people.test']);
    assert.equal(s.outcome, `SUBMIT KEY:pending:${t.id}`);
    assert.match(flat(s.replies[0].text), new RegExp(`${erin.fpr}`));
    assert.doesNotMatch(JSON.stringify(t), new RegExp(alice.fpr), 'the ticket is not Alice\'s');
  });
});
