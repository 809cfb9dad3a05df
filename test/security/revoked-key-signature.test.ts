/**
 * Attack: a stolen key whose owner has revoked it (the collection holds the
 * revocation) keeps signing: a state-changing command signed with it is
 * refused as revoked-key, whatever the signature's date.
 */
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { newcomer, pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, revokeInCollection, sendChecked } from './world.js';

describe('security: a signature by a revoked collection key', () => {
  test('ATTEST (PGP/MIME, inline) and a SUBMIT KEY signed by Carol\'s revoked key: refused:revoked-key, nothing changes', async () => {
    const { w, alice, bob, carol } = await pendingTicket();
    await revokeInCollection(w, carol);
    const erin = await newcomer('Erin', 'erin@people.test', [alice, bob]);
    const before = await stateOf(w);
    const sum = createHash('sha256').update('zos-utils-1.2.tar').digest('hex');
    for (const [cmd, text] of [
      ['ATTEST', `ATTEST\n${TO_BOT}\n${sum}  zos-utils-1.2.tar\n`],
      ['SUBMIT KEY', `SUBMIT KEY\n${TO_BOT}\n\n${erin.certified.armor()}`],
    ] as const) {
      for (const signing of ['pgpmime', 'inline'] as const) {
        if (cmd === 'SUBMIT KEY' && signing === 'inline') continue;
        const s = await sendChecked(w, await w.mail(carol, text, { signing }));
        assertRefused(s, {
          outcome: 'refused:revoked-key', to: 'carol@people.test',
          says: [new RegExp(`The command ${cmd} changes the collection, so it must be signed`), new RegExp(`is by a revoked key ${carol.fpr}`),
            /How to fix it: The key is revoked; sign with a key that is not revoked\./],
        });
      }
    }
    await assertUnchanged(w, before);
  });
});
