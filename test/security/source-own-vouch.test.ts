/**
 * Attack: a maintainer vouches for an upstream key (SUBMIT SOURCE KEY) and
 * then approves their own vouch, so that one other maintainer is enough to
 * admit the key at threshold 2. A source key needs the member's vouch AND k
 * maintainers: the voucher's approval is refused, and the ticket still needs
 * two approvals from the others.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { community, person, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: approving your own source-key vouch', () => {
  test('refused as own-vouch; nothing recorded; the other two maintainers still decide', async () => {
    const { w, alice, bob, carol } = await community({ threshold: 2 });
    const upstream = await person('Damien Miller', 'djm@mindrot.org');
    const opened = await sendChecked(w, await w.mail(alice, `SUBMIT SOURCE KEY openssh-9.8p1\n${TO_BOT}\n\n${upstream.pub.armor()}`));
    const ticket = opened.replies[0].fields.Ticket;
    const digest = opened.replies[0].fields['Ticket-Digest'];
    assert.match(opened.outcome, /^SUBMIT SOURCE KEY:pending:/);
    const before = await stateOf(w);
    for (const signing of ['pgpmime', 'inline'] as const) {
      const own = await sendChecked(w, await w.mail(alice, `APPROVE ${ticket}\n${digest}\n${TO_BOT}\n`, { signing }));
      assertRefused(own, {
        outcome: 'APPROVE:refused:own-vouch', to: alice.email,
        says: [new RegExp(`you vouched for the key in ticket ${ticket}: your approval would count your own vouch twice`), /2 of them, besides you, must approve it/],
      });
    }
    await assertUnchanged(w, before);
    assert.deepEqual(await w.store.getVotes(ticket), []);
    const one = await sendChecked(w, await w.mail(bob, `APPROVE ${ticket}\n${digest}\n${TO_BOT}\n`));
    assert.equal(one.outcome, `APPROVE:recorded:${ticket}`);
    const two = await sendChecked(w, await w.mail(carol, `APPROVE ${ticket}\n${digest}\n${TO_BOT}\n`));
    assert.equal(two.outcome, `APPROVE:approved:${ticket}`);
  });
});
