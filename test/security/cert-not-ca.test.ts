/**
 * Attack: a leaf certificate (basicConstraints CA:FALSE, no keyCertSign) offered as a root: anything it "issued" would chain to the collection.
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
  test('a CA:FALSE leaf certificate offered as a root: refused', async () => {
    const { w, alice, carol } = await community();
    const pem = selfSigned('leaf', { ext: ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature'] });
    const before = await stateOf(w);
    const s = await sendChecked(w, await submitCertMail(w, alice, 'volunteer-root', pem, await detachedSig(carol, pem)));
    assertRefused(s, {
      outcome: 'SUBMIT CERT:refused:ca-certificate', to: 'alice@people.test',
      says: [/Your SUBMIT CERT request was refused\. Nothing was changed\. Rule: ca-certificate/, /What the bot found: basicConstraints says CA:FALSE: this is not a CA certificate; keyUsage does not include keyCertSign/],
    });
    assert.equal(s.replies[0]!.fields.Ticket, undefined);
    await assertUnchanged(w, before);
  });
});
