/**
 * Attack: a volunteer root whose own signature uses MD5 (md5WithRSAEncryption), forgeable by chosen-prefix collisions.
 * The certificate carries a valid detached signature by a collection key
 * (Carol), so only the certificate policy stands between it and a ticket:
 * refused with the rule, no ticket, nothing changed.
 */
import { describe, test } from 'node:test';
import { assertCertRefused, noOpenssl, selfSigned } from './certs.js';

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('a CA certificate signed with md5WithRSAEncryption: refused', async () => {
    await assertCertRefused(() => selfSigned('md5 Root', { key: 'rsa:2048', md: 'md5' }), /What the bot found: it is signed with md5WithRSAEncryption; MD5 and SHA-1 signatures are refused/);
  });
});
