/**
 * Attack: a root certificate that expired years ago (valid 2020-01-01 to 2021-01-01).
 * The certificate carries a valid detached signature by a collection key
 * (Carol), so only the certificate policy stands between it and a ticket:
 * refused with the rule, no ticket, nothing changed.
 */
import { describe, test } from 'node:test';
import { assertCertRefused, expiredCa, noOpenssl } from './certs.js';

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('a CA certificate that expired in 2021: refused', async () => {
    await assertCertRefused(() => expiredCa('old Root'), /What the bot found: it expired on 2021-01-01T00:00:00\.000Z/);
  });
});
