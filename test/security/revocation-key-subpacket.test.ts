/**
 * Attack: a message signature carrying a revocation-key subpacket (RFC 9580
 * 5.2.3.23: meaningful only on a key's direct self-signature). openpgp.js
 * refuses such a signature ("This key is intended to be revoked with an
 * authorized key, which OpenPGP.js does not support."). The verdict was
 * 'revoked-key' with the signed text handed on, because the message has
 * "revoked" in it; it is 'bad', with openpgp.js's reason and no signed text.
 * The signature is made at test time by openpgp.js (GnuPG puts the
 * subpacket only on key signatures).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { Keyring } from '../../src/pgp/keyring.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { literalBytes } from '../../src/pgp/message-signature.js';
import { wrapPgpMime } from '../unit/verify-gpg-mail.js';

/** The fields openpgp.js writes the subpacket from, and its packet signing (internal API, for the attack only). */
interface Writable {
  revocationKeyClass: number | null;
  revocationKeyAlgorithm: number | null;
  revocationKeyFingerprint: Uint8Array | null;
  sign(key: openpgp.AnyKeyPacket, data: openpgp.LiteralDataPacket, at: Date, detached: boolean, config: openpgp.Config): Promise<void>;
}

async function signedPart(withRevocationKey: boolean): Promise<{ raw: Buffer; keyring: Keyring }> {
  const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', userIDs: [{ email: 'attacker@example.org' }], format: 'object' });
  const inner = 'Content-Type: text/plain; charset=UTF-8\r\n\r\nHELP\r\n';
  const message = await openpgp.createMessage({ binary: Buffer.from(inner) });
  const made = await openpgp.sign({ message, signingKeys: privateKey, detached: true, format: 'binary' }) as Uint8Array;
  const sig = await openpgp.readSignature({ binarySignature: made });
  if (withRevocationKey) {
    const p = sig.packets[0] as unknown as Writable;
    p.revocationKeyClass = 0x80;
    p.revocationKeyAlgorithm = openpgp.enums.publicKey.eddsaLegacy;
    p.revocationKeyFingerprint = Buffer.from(publicKey.getFingerprint(), 'hex');
    // Signed again over the new hashed area: the cryptography holds.
    await p.sign((await privateKey.getSigningKey()).keyPacket, literalBytes(Buffer.from(inner)), new Date(Date.now() - 60_000), true,
      { ...openpgp.config, nonDeterministicSignaturesViaNotation: false });
  }
  return { raw: wrapPgpMime(inner, sig.armor(), 'pgp-sha512'), keyring: Keyring.fromKeys([publicKey]) };
}

test('a message signature with a revocation-key subpacket: bad, with the reason, no signed text; the same signature without it is good', async () => {
  const plain = await signedPart(false);
  const control = await verifyMail(plain.raw, plain.keyring);
  assert.equal(control.verdict, 'good', control.detail);

  const { raw, keyring } = await signedPart(true);
  const r = await verifyMail(raw, keyring);
  assert.equal(r.verdict, 'bad', r.detail);
  assert.match(r.detail, /is not valid: This key is intended to be revoked with an authorized key/);
  assert.equal(r.signedText, null);
  assert.equal(r.authorises, false);
});
