/**
 * Attack: an ATTEST signed by an RSA-1024 key in the collection (factorable at nation-state cost; the policy wants RSA >= 2048).
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { assertWeakAttestRefused } from './weak.js';

describe('security: weak algorithms', () => {
  test('an ATTEST signed (SHA-256) by an RSA-1024 collection key: refused:weak', async () => {
    await assertWeakAttestRefused('rsa1024', 'SHA256', [/is refused by the policy: .*(1024|RSA)/]);
  });
});
