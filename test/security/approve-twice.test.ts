/**
 * Attack: one maintainer approves twice (two freshly signed mails, so no
 * replay), trying to reach a threshold of 2 alone. Each maintainer key
 * counts once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat, pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: APPROVE twice by one maintainer', () => {
  test('the second approval is refused as already-voted; the ticket stays pending with one vote', async () => {
    const { w, alice, t } = await pendingTicket();
    const first = await sendChecked(w, await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(first.outcome, `APPROVE:recorded:${t.id}`);
    const before = await stateOf(w);
    for (const signing of ['pgpmime', 'inline'] as const) {
      const s = await sendChecked(w, await w.mail(alice, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}\n`, { signing }));
      assertRefused(s, {
        outcome: 'APPROVE:refused:already-voted', to: 'alice@people.test',
        says: [/Your APPROVE request was refused\. Nothing was changed\. Rule: already-voted/, new RegExp(`you already approved ticket ${t.id}`),
          /each maintainer key counts once/],
      });
    }
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [alice.fpr]);
    await assertUnchanged(w, before);
    assert.ok(flat(first.replies[0].text).includes('1 of the 2 approvals'));
  });
});
