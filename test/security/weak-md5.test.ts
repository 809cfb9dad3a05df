/**
 * Attack: a collection member's ATTEST signed with MD5 (collisions in seconds).
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { assertWeakAttestRefused } from './weak.js';

describe('security: weak algorithms', () => {
  test('an ATTEST clearsigned with MD5 by a collection key: refused:weak', async () => {
    await assertWeakAttestRefused('rsa3072', 'MD5', [/MD5 is refused by the policy for new signatures/, /personal-digest-preferences SHA512/]);
  });
});
