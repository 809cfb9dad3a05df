/**
 * Attack: a volunteer root whose own signature uses SHA-1 (sha1WithRSAEncryption; SHAttered, chosen-prefix collisions).
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
  test('a CA certificate signed with sha1WithRSAEncryption: refused', async () => {
    const { w, alice, carol } = await community();
    const pem = selfSigned('sha1 Root', { key: 'rsa:2048', md: 'sha1' });
    const before = await stateOf(w);
    const s = await sendChecked(w, await submitCertMail(w, alice, 'volunteer-root', pem, await detachedSig(carol, pem)));
    assertRefused(s, {
      outcome: 'SUBMIT CERT:refused:ca-certificate', to: 'alice@people.test',
      says: [/Your SUBMIT CERT request was refused\. Nothing was changed\. Rule: ca-certificate/, /What the bot found: it is signed with sha1WithRSAEncryption; MD5 and SHA-1 signatures are refused/],
    });
    assert.equal(s.replies[0]!.fields.Ticket, undefined);
    await assertUnchanged(w, before);
  });
});
