/**
 * Attack: a collection member's ATTEST signed with RIPEMD-160 (160-bit, deprecated by RFC 9580).
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { stateOf } from '../unit/commands-world.js';
import { weakWorld } from './weak.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: weak algorithms', () => {
  // openpgp.js cannot read the RIPEMD-160 cleartext header ("Unknown hash algorithm"); the
  // signature packet is read before verifying, so this is weak, not bad.
  test('an ATTEST clearsigned with RIPEMD-160 by a collection key: refused:weak', async () => {
    const { w, wanda, attest } = await weakWorld('rsa3072');
    const before = await stateOf(w);
    const s = await sendChecked(w, await attest('RIPEMD160'));
    assertRefused(s, {
      outcome: 'refused:weak', to: 'wanda@people.test',
      says: [/The command ATTEST changes the collection, so it must be signed/, new RegExp(`${wanda}`), /RIPEMD-160 is refused by the policy for new signatures/, /personal-digest-preferences SHA512/],
    });
    await assertUnchanged(w, before);
  });
});
