/**
 * Attack: a maintainer is tricked into approving ticket A with the digest
 * of ticket B (content she reviewed), or a vote for B is re-targeted at A.
 * An approval counts only for the content whose digest it names.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newcomer, pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: APPROVE with another ticket\'s digest', () => {
  test('refused, no vote on either ticket', async () => {
    const { w, alice, bob, t } = await pendingTicket();
    const erin = await newcomer('Erin', 'erin@people.test', [alice, bob]);
    const opened = await w.send(await w.mail(erin, `SUBMIT KEY\n${TO_BOT}\n\n${erin.certified.armor()}`));
    const t2 = (await w.store.getTicket(opened.replies[0].fields.Ticket))!;
    assert.notEqual(t2.digest, t.digest);
    const before = await stateOf(w);
    const s = await sendChecked(w, await w.mail(alice, `APPROVE ${t.id}\n${t2.digest}\n${TO_BOT}\n`));
    assertRefused(s, {
      outcome: 'APPROVE:refused:wrong-digest', to: 'alice@people.test',
      says: [/Your APPROVE request was refused\. Nothing was changed\. Rule: wrong-digest/,
        new RegExp(`the digest you signed does not match the content of ticket ${t.id}`)],
    });
    assert.deepEqual(await w.store.getVotes(t.id), []);
    assert.deepEqual(await w.store.getVotes(t2.id), []);
    await assertUnchanged(w, before);
  });
});
