/**
 * Attack: a valid CA certificate with a detached signature by a collection key that covers OTHER bytes (another certificate Carol signed), replayed next to the attacker's certificate.
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
  test('a detached signature by a collection key over other bytes: refused', async () => {
    const { w, alice, carol } = await community();
    const pem = selfSigned('evil Root');
    const before = await stateOf(w);
    const s = await sendChecked(w, await submitCertMail(w, alice, 'volunteer-root', pem, await detachedSig(carol, selfSigned('genuine Root'))));
    assertRefused(s, {
      outcome: 'SUBMIT CERT:refused:certificate-signature', to: 'alice@people.test',
      says: [/Your SUBMIT CERT request was refused\. Nothing was changed\. Rule: certificate-signature/, /What the bot found: the signature by [0-9a-f]{16} does not verify over these exact bytes/],
    });
    assert.equal(s.replies[0].fields.Ticket, undefined);
    await assertUnchanged(w, before);
  });
});
