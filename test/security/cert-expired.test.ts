/**
 * Attack: a root certificate that expired years ago (valid 2020-01-01 to 2021-01-01).
 * The certificate carries a valid detached signature by a collection key
 * (Carol), so only the certificate policy stands between it and a ticket:
 * refused with the rule, no ticket, nothing changed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { community, stateOf } from '../unit/commands-world.js';
import { detachedSig, noOpenssl, expiredCa, submitCertMail } from './certs.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('a CA certificate that expired in 2021: refused', async () => {
    const { w, alice, carol } = await community();
    const pem = expiredCa('old Root');
    const before = await stateOf(w);
    const s = await sendChecked(w, await submitCertMail(w, alice, 'volunteer-root', pem, await detachedSig(carol, pem)));
    assertRefused(s, {
      outcome: 'SUBMIT CERT:refused:ca-certificate', to: 'alice@people.test',
      says: [/Your SUBMIT CERT request was refused\. Nothing was changed\. Rule: ca-certificate/, /What the bot found: it expired on 2021-01-01T00:00:00\.000Z/],
    });
    assert.equal(s.replies[0]!.fields.Ticket, undefined);
    await assertUnchanged(w, before);
  });
});
