/**
 * Attack: a maintainer's key is revoked (stolen, or she left), the thief
 * still holds the secret key and APPROVEs. The collection holds the
 * revocation: the signature is by a revoked key and no vote is recorded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, revokeInCollection, sendChecked } from './world.js';

describe('security: APPROVE by a revoked maintainer key', () => {
  test('refused:revoked-key, no vote, ticket pending', async () => {
    const { w, alice, t } = await pendingTicket();
    await revokeInCollection(w, alice);
    const before = await stateOf(w);
    for (const signing of ['pgpmime', 'inline'] as const) {
      const s = await sendChecked(w, await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`, { signing }));
      assertRefused(s, {
        outcome: 'refused:revoked-key', to: 'alice@people.test',
        says: [/The command APPROVE changes the collection, so it must be signed/, new RegExp(`is by a revoked key ${alice.fpr}`)],
      });
    }
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
  });
});
