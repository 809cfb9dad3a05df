/**
 * Attack: a volunteer root whose own signature uses MD5 (md5WithRSAEncryption), forgeable by chosen-prefix collisions.
 * The certificate carries a valid detached signature by a collection key
 * (Carol), so only the certificate policy stands between it and a ticket:
 * refused with the rule, no ticket, nothing changed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { community, stateOf } from '../unit/commands-world.js';
import { detachedSig, noOpenssl, selfSigned, submitCertMail } from './certs.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('a CA certificate signed with md5WithRSAEncryption: refused', async () => {
    const { w, alice, carol } = await community();
    const pem = selfSigned('md5 Root', { key: 'rsa:2048', md: 'md5' });
    const before = await stateOf(w);
    const s = await sendChecked(w, await submitCertMail(w, alice, 'volunteer-root', pem, await detachedSig(carol, pem)));
    assertRefused(s, {
      outcome: 'SUBMIT CERT:refused:ca-certificate', to: 'alice@people.test',
      says: [/Your SUBMIT CERT request was refused\. Nothing was changed\. Rule: ca-certificate/, /What the bot found: it is signed with md5WithRSAEncryption; MD5 and SHA-1 signatures are refused/],
    });
    assert.equal(s.replies[0]!.fields.Ticket, undefined);
    await assertUnchanged(w, before);
  });
});
