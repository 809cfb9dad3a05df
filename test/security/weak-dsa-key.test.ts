/**
 * Attack: an ATTEST signed by a DSA key that made it into the collection (old data kept for audit): DSA is no longer accepted for new signatures.
 * Refused with the verdict `weak`: nothing is logged, nothing changes.
 */
import { describe, test } from 'node:test';
import { assertWeakAttestRefused } from './weak.js';

describe('security: weak algorithms', () => {
  test('an ATTEST signed (SHA-256) by a DSA collection key: refused:weak', async () => {
    await assertWeakAttestRefused('dsa2048', 'SHA256', [/DSA keys are no longer accepted/, /gpg --quick-gen-key/]);
  });
});
