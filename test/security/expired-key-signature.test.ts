/**
 * Attack: a collection key that has expired (its owner let it lapse, or a
 * thief holds an old key) signs a state-changing command now. The thief's
 * copy of the secret key carries a fresh self-signature without expiry
 * (same key material, same fingerprint: openpgp.reformatKey), so the
 * signing software does not stop him; the collection's copy says the key
 * expired, and that is what the bot judges by: refused as expired-key.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { certify, community, stateOf, TO_BOT, type Person } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: a signature by an expired collection key', () => {
  test('ATTEST signed after the key expired: refused:expired-key, nothing logged', async () => {
    const { w, alice, bob } = await community();
    const made = new Date(Date.now() - 3 * 86400_000);
    const { privateKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Olga', email: 'olga@people.test' }], format: 'object',
      config: { v6Keys: false }, date: made, keyExpirationTime: 86400,
    });
    // The collection's copy: expired two days ago, certified by Alice and Bob.
    await w.seed([await certify(privateKey.toPublic(), [alice, bob])]);
    // The signer's copy: the same key with a self-signature that never expires.
    const { privateKey: unexpired } = await openpgp.reformatKey({
      privateKey, userIDs: [{ name: 'Olga', email: 'olga@people.test' }], keyExpirationTime: 0, format: 'object', config: { v6Keys: false },
    });
    assert.equal(unexpired.getFingerprint(), privateKey.getFingerprint());
    const olga: Person = { name: 'Olga', email: 'olga@people.test', key: unexpired, fpr: unexpired.getFingerprint().toUpperCase(), pub: unexpired.toPublic() };
    const before = await stateOf(w);
    const sum = createHash('sha256').update('zos-utils-1.2.tar').digest('hex');
    for (const signing of ['pgpmime', 'inline'] as const) {
      const s = await sendChecked(w, await w.mail(olga, `ATTEST\n${TO_BOT}\n${sum}  zos-utils-1.2.tar\n`, { signing }));
      assertRefused(s, {
        outcome: 'refused:expired-key', to: 'olga@people.test',
        says: [/The command ATTEST changes the collection, so it must be signed/, new RegExp(`the key ${olga.fpr} had already expired when it signed`),
          /How to fix it: The key had expired when it signed: extend its expiry, send the updated key \(UPDATE KEY\)/],
      });
    }
    await assertUnchanged(w, before);
  });
});
