/**
 * Attack: APPROVE signed by a key that is not a maintainer: a collection
 * member who is not on the maintainer list (Carol, here), and an outsider
 * whose key is not in the collection at all (Sid). Neither vote counts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: APPROVE by a non-maintainer', () => {
  test('a collection member who is not a maintainer, and an outsider key: refused, no vote', async () => {
    const { w, carol, stranger, t } = await pendingTicket({ maintainers: (ps) => ps.slice(0, 2).map((p) => p.fpr) });
    const before = await stateOf(w);
    const c = await sendChecked(w, await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assertRefused(c, {
      outcome: 'APPROVE:refused:not-a-maintainer', to: 'carol@people.test',
      says: [/Your APPROVE request was refused\. Nothing was changed\. Rule: not-a-maintainer/,
        new RegExp(`the mail is signed by key ${carol.fpr}, which is not a maintainer key`)],
    });
    const s = await sendChecked(w, await w.mail(stranger, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assertRefused(s, {
      outcome: 'refused:nokey', to: 'sid@elsewhere.test',
      says: [/The command APPROVE changes the collection, so it must be signed/, new RegExp(`\\(${stranger.fpr}\\), which is not in the keyring`)],
    });
    assert.deepEqual(await w.store.getVotes(t.id), []);
    await assertUnchanged(w, before);
  });
});
