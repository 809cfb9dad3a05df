/**
 * Attack: a leaf certificate (basicConstraints CA:FALSE, no keyCertSign) offered as a root: anything it "issued" would chain to the collection.
 * The certificate carries a valid detached signature by a collection key
 * (Carol), so only the certificate policy stands between it and a ticket:
 * refused with the rule, no ticket, nothing changed.
 */
import { describe, test } from 'node:test';
import { assertCertRefused, noOpenssl, selfSigned } from './certs.js';

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('a CA:FALSE leaf certificate offered as a root: refused', async () => {
    await assertCertRefused(() => selfSigned('leaf', { ext: ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature'] }), /What the bot found: basicConstraints says CA:FALSE: this is not a CA certificate; keyUsage does not include keyCertSign/);
  });
});
