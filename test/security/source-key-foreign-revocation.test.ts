/**
 * Attack: revoke an upstream source-signing key without its private key.
 * REVOKE KEY takes unsigned mail, because a revocation certificate is its
 * own authority; so the certificate itself must be made by the key it
 * revokes. A stranger (a gpg-made key) signs a key revocation over the
 * source key's primary key and sends it as a "revoked copy" of that key:
 * once under the stranger's own issuer (a designated revoker the key never
 * named), once with the issuer rewritten to the source key's id. Both are
 * refused by rule and nothing changes: no commit, no log entry, no queued
 * change, the file in pgp/for-source/ byte for byte as it was.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { stateOf } from '../unit/commands-world.js';
import { fileOf, gpgSecretKey, sourceKeyWorld } from '../unit/source-keys-world.js';
import { assertRefused, assertUnchanged, sendChecked } from './world.js';

/**
 * A key revocation over `target`'s primary key, signed by `by`. `forgeIssuer`:
 * the signature names `target` as its issuer (hashed issuer fingerprint and
 * issuer key id alike), as a forger who edits those fields would.
 */
async function foreignRevocation(target: openpgp.PublicKey, by: openpgp.PrivateKey, forgeIssuer = false): Promise<string> {
  const sig = new openpgp.SignaturePacket();
  sig.signatureType = openpgp.enums.signature.keyRevocation;
  sig.publicKeyAlgorithm = by.keyPacket.algorithm;
  sig.hashAlgorithm = openpgp.enums.hash.sha512;
  sig.reasonForRevocationFlag = openpgp.enums.reasonForRevocation.keyCompromised;
  sig.reasonForRevocationString = 'compromised';
  // The signing key packet, answering with the target's identity when forging (its secret material stays the stranger's).
  const signer = forgeIssuer
    ? Object.create(by.keyPacket, {
      getKeyID: { value: () => target.getKeyID() },
      getFingerprintBytes: { value: () => target.keyPacket.getFingerprintBytes() },
    }) as openpgp.SecretKeyPacket
    : by.keyPacket as openpgp.SecretKeyPacket;
  // openpgp.js hashes { key } for a key revocation and takes a config last, whatever its typings say.
  const sign = (sig.sign as unknown as (this: openpgp.SignaturePacket, ...args: unknown[]) => Promise<void>).bind(sig);
  await sign(signer, { key: target.keyPacket }, new Date(), false, openpgp.config);
  const list = new openpgp.PacketList<openpgp.AnyPacket>();
  list.push(target.keyPacket, sig);
  return openpgp.armor(openpgp.enums.armor.publicKey, list.write());
}

describe('security: a revocation certificate for a source key made by another key', () => {
  test('refused by rule (wrong issuer, then a forged issuer); nothing changes', async () => {
    const { w, svc, gpg, fpr, file } = await sourceKeyWorld();
    try {
      const strangerFpr = await gpg.genKey('Stranger <stranger@elsewhere.example>', { algo: 'ed25519', encryptSubkey: false });
      const stranger = await gpgSecretKey(gpg, strangerFpr);
      const target = await openpgp.readKey({ armoredKey: await fileOf(w, file) });
      const keep = await fileOf(w, file);
      const size = svc.size();
      const before = await stateOf(w);

      const own = await sendChecked(w, await w.mail(null, `REVOKE KEY\n\n${await foreignRevocation(target, stranger)}`, { from: 'mallory@elsewhere.example' }));
      assertRefused(own, {
        outcome: 'REVOKE KEY:refused:revocation-wrong-key', to: 'mallory@elsewhere.example',
        says: [new RegExp(`${strangerFpr.slice(-16)}`, 'i'), new RegExp(fpr)],
      });
      await assertUnchanged(w, before);

      const forged = await sendChecked(w, await w.mail(null, `REVOKE KEY\n\n${await foreignRevocation(target, stranger, true)}`, { from: 'mallory@elsewhere.example' }));
      assertRefused(forged, { outcome: 'REVOKE KEY:refused:revocation-invalid', to: 'mallory@elsewhere.example', says: [new RegExp(fpr)] });
      await assertUnchanged(w, before);

      assert.equal(await fileOf(w, file), keep, 'the source key file is untouched');
      assert.equal(svc.size(), size, 'no log entry');
      assert.equal((await openpgp.readKey({ armoredKey: keep })).revocationSignatures.length, 0);
    } finally {
      await svc.close();
      await gpg.cleanup();
    }
  });
});
