/**
 * Attack: a collection member's ATTEST signed with RIPEMD-160 (160-bit, deprecated by RFC 9580).
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { assertWeakAttestRefused } from './weak.js';

describe('security: weak algorithms', () => {
  // openpgp.js cannot read the RIPEMD-160 cleartext header ("Unknown hash algorithm"); the
  // signature packet is read before verifying, so this is weak, not bad.
  test('an ATTEST clearsigned with RIPEMD-160 by a collection key: refused:weak', async () => {
    await assertWeakAttestRefused('rsa3072', 'RIPEMD160', [/RIPEMD-160 is refused by the policy for new signatures/, /personal-digest-preferences SHA512/]);
  });
});
