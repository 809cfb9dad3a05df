/**
 * Attack: a volunteer root whose own signature uses SHA-1 (sha1WithRSAEncryption; SHAttered, chosen-prefix collisions).
 * The certificate carries a valid detached signature by a collection key
 * (Carol), so only the certificate policy stands between it and a ticket:
 * refused with the rule, no ticket, nothing changed.
 */
import { describe, test } from 'node:test';
import { assertCertRefused, noOpenssl, selfSigned } from './certs.js';

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('a CA certificate signed with sha1WithRSAEncryption: refused', async () => {
    await assertCertRefused(() => selfSigned('sha1 Root', { key: 'rsa:2048', md: 'sha1' }), /What the bot found: it is signed with sha1WithRSAEncryption; MD5 and SHA-1 signatures are refused/);
  });
});
