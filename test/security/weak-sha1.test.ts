/**
 * Attack: a collection member's ATTEST signed with SHA-1 (chosen-prefix collisions: SHA-1 is a shambles, 2020).
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { assertWeakAttestRefused } from './weak.js';

describe('security: weak algorithms', () => {
  test('an ATTEST clearsigned with SHA-1 by a collection key: refused:weak', async () => {
    await assertWeakAttestRefused('rsa3072', 'SHA1', [/SHA-1 is refused by the policy for new signatures/, /personal-digest-preferences SHA512/]);
  });
});
