/**
 * Attack: the very same APPROVE mail (same bytes, same Message-ID) is
 * delivered again: by a resend, a list, or an attacker who captured it. It
 * is processed once; the second delivery adds no vote and sends no second
 * receipt.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertSilent, assertUnchanged, sendChecked } from './world.js';

describe('security: the same APPROVE mail delivered twice', () => {
  test('the second delivery changes nothing', async () => {
    const { w, alice, t } = await pendingTicket({ threshold: 3 });
    const raw = await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`);
    const first = await sendChecked(w, raw);
    assert.equal(first.outcome, `APPROVE:recorded:${t.id}`);
    const before = await stateOf(w);
    const again = await sendChecked(w, raw);
    // The signature is refused as used, and the store keeps the message's first
    // completion (same Message-ID, same content): no second receipt goes out.
    await assertSilent(w, again, 'refused:replay');
    assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [alice.fpr]);
    await assertUnchanged(w, before);
  });
});
