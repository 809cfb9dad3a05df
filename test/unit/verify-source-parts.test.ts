/**
 * The parts VERIFY with a detached signature and `verify-source` are built
 * from: release names read from artifact file names, detached signatures
 * made by real GnuPG read and checked over the file's bytes (and refused
 * when the file changed or the policy refuses the hash), and the signature
 * file found in a mail, never the mail's own PGP/MIME signature.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { artifactMatchesRelease, baseName, releaseOfArtifact, signedFileName } from '../../src/collection/artifact-name.js';
import { checkDetached, findIssuer, looksLikeSignature, readDetachedSignature } from '../../src/pgp/detached.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { DEFAULT_CRYPTO_POLICY } from '../../src/policy/index.js';
import { DEFAULT_LIMITS, MESSAGE_BOUNDS } from '../../src/limits.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { signatureFiles } from '../../src/commands/verify-attachments.js';
import type * as openpgp from 'openpgp';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

describe('release names from artifact file names', () => {
  test('archive suffixes are cut whole, compound ones first; the package is what stands before the version', () => {
    const cases: [string, string, string][] = [
      ['bash-5.3.tar.gz', 'bash-5.3', 'bash'],
      ['bash-5.3.tar.xz', 'bash-5.3', 'bash'],
      ['openssh-9.8p1.tar.gz', 'openssh-9.8p1', 'openssh'],
      ['util-linux-2.40.1.tar.xz', 'util-linux-2.40.1', 'util-linux'],
      ['zlib-1.3.tgz', 'zlib-1.3', 'zlib'],
      ['curl-8.9.1.zip', 'curl-8.9.1', 'curl'],
      ['musl-1.2.5.tar.bz2', 'musl-1.2.5', 'musl'],
      ['bash-5.3.tar.gz.sig', 'bash-5.3', 'bash'],
      ['bash-5.3.tar.gz.asc', 'bash-5.3', 'bash'],
      ['https://ftp.gnu.org/gnu/bash/bash-5.3.tar.gz', 'bash-5.3', 'bash'],
      ['/home/me/Downloads/bash-5.3.tar.gz', 'bash-5.3', 'bash'],
      ['C:\\Downloads\\bash-5.3.TAR.GZ', 'bash-5.3', 'bash'],
      ['bash-5.3', 'bash-5.3', 'bash'],
    ];
    for (const [file, release, pkg] of cases) {
      const r = releaseOfArtifact(file);
      assert.ok(r, file);
      assert.equal(r.release, release, file);
      assert.equal(r.package, pkg, file);
    }
  });

  test('names that keep no release are null', () => {
    for (const bad of ['', '.tar.gz', 'bash 5.3.tar.gz', '../..', 'a..b-1.tar.gz', `${'x'.repeat(120)}-1.tar.gz`]) {
      assert.equal(releaseOfArtifact(bad), null, bad);
    }
  });

  test('matching is by release, case-insensitive, and never by prefix', () => {
    assert.equal(artifactMatchesRelease('bash-5.3.tar.gz', 'bash-5.3'), true);
    assert.equal(artifactMatchesRelease('BASH-5.3.tar.gz', 'bash-5.3'), true);
    assert.equal(artifactMatchesRelease('bash-5.3.tar.gz', 'bash-5.3.1'), false);
    assert.equal(artifactMatchesRelease('bash-5.3.1.tar.gz', 'bash-5.3'), false);
    assert.equal(artifactMatchesRelease('bash-5.3.tar.gz', 'zlib-1.3'), false);
    assert.equal(artifactMatchesRelease('bash-5.3-patched.tar.gz', 'bash-5.3'), false);
  });

  test('the file a signature signs, and base names', () => {
    assert.equal(signedFileName('bash-5.3.tar.gz.sig'), 'bash-5.3.tar.gz');
    assert.equal(signedFileName('dir/bash-5.3.tar.gz.asc'), 'bash-5.3.tar.gz');
    assert.equal(signedFileName('bash-5.3.tar.gz'), null);
    assert.equal(baseName('a/b\\c.tar.gz?x=1'), 'c.tar.gz');
  });
});

describe('detached signatures made by GnuPG', () => {
  let gpg: GpgHome;
  let fpr: string;
  let otherFpr: string;
  let key: openpgp.PublicKey;
  let other: openpgp.PublicKey;
  const tarball = randomBytes(20_000);
  let sig: Buffer;
  let asc: Buffer;

  before(async () => {
    gpg = await makeGpgHome();
    fpr = await gpg.genKey('Upstream Release <release@upstream.example>', { algo: 'ed25519' });
    otherFpr = await gpg.genKey('Other Project <release@other.example>', { algo: 'ed25519' });
    key = (await readKeysAny(await gpg.exportPublic(fpr)))[0];
    other = (await readKeysAny(await gpg.exportPublic(otherFpr)))[0];
    sig = await gpg.detachSign(fpr, tarball);
    asc = await gpg.detachSign(fpr, tarball, { armor: true });
  });
  after(async () => gpg?.cleanup());

  test('binary and armoured: the issuer fingerprint, the algorithms, accepted by the policy', async () => {
    for (const [bytes, armoured] of [[sig, false], [asc, true]] as const) {
      assert.equal(looksLikeSignature(bytes), true);
      const r = await readDetachedSignature(bytes, DEFAULT_CRYPTO_POLICY);
      assert.ok(r.ok);
      assert.equal(r.armoured, armoured);
      assert.equal(r.issuers.length, 1);
      assert.equal(r.issuers[0].fingerprint, fpr);
      assert.equal(r.issuers[0].keyId, fpr.slice(-16));
      assert.equal(r.issuers[0].refused, null);
      assert.ok(r.issuers[0].created instanceof Date);
      assert.equal(findIssuer(r.issuers[0], Keyring.fromKeys([other, key])), key);
      assert.equal(findIssuer(r.issuers[0], Keyring.fromKeys([other])), null);
    }
  });

  test('the signature verifies over the exact bytes only, and only with the key that made it', async () => {
    const r = await readDetachedSignature(sig, DEFAULT_CRYPTO_POLICY);
    assert.ok(r.ok);
    assert.deepEqual(await checkDetached(tarball, r, r.issuers[0], key, DEFAULT_CRYPTO_POLICY, new Date()), { ok: true, created: r.issuers[0].created });
    const tampered = Buffer.from(tarball);
    tampered[12_345] ^= 0x01;
    const bad = await checkDetached(tampered, r, r.issuers[0], key, DEFAULT_CRYPTO_POLICY, new Date());
    assert.equal(bad.ok, false);
    assert.match((bad as { reason: string }).reason, /^the signature does not verify over the file: /);
    const wrongKey = await checkDetached(tarball, r, r.issuers[0], other, DEFAULT_CRYPTO_POLICY, new Date());
    assert.equal(wrongKey.ok, false);
  });

  test('a SHA-1 signature is read with its issuer but refused by the policy, before any verification', async () => {
    const weak = await gpg.detachSign(fpr, tarball, { digest: 'SHA1' });
    const r = await readDetachedSignature(weak, DEFAULT_CRYPTO_POLICY);
    assert.ok(r.ok);
    assert.equal(r.issuers[0].fingerprint, fpr);
    assert.equal(r.issuers[0].hash, 'sha1');
    assert.ok(r.issuers[0].refused, 'the policy refuses SHA-1 signatures');
    const c = await checkDetached(tarball, r, r.issuers[0], key, DEFAULT_CRYPTO_POLICY, new Date());
    assert.deepEqual(c, { ok: false, reason: r.issuers[0].refused });
  });

  test('several packets in one file: each is read with its index and checked on its own, not as the first packet by that key id', async () => {
    const weak = await gpg.detachSign(fpr, tarball, { digest: 'SHA1' });
    const strong = await gpg.detachSign(fpr, tarball, { digest: 'SHA512' });
    const elsewhere = await gpg.detachSign(fpr, Buffer.from('other data\n'));
    const dual = await readDetachedSignature(Buffer.concat([weak, strong]), DEFAULT_CRYPTO_POLICY);
    assert.ok(dual.ok);
    assert.deepEqual(dual.issuers.map((i) => [i.index, i.keyId, i.hash]), [[0, fpr.slice(-16), 'sha1'], [1, fpr.slice(-16), 'sha512']]);
    assert.equal(dual.packets.length, 2);
    assert.deepEqual(Buffer.from(dual.packets[1]), strong);
    const now = new Date();
    assert.deepEqual(await checkDetached(tarball, dual, dual.issuers[0], key, DEFAULT_CRYPTO_POLICY, now), { ok: false, reason: dual.issuers[0].refused });
    assert.deepEqual(await checkDetached(tarball, dual, dual.issuers[1], key, DEFAULT_CRYPTO_POLICY, now), { ok: true, created: dual.issuers[1].created });
    // A signature over other data first, then the good one, armoured as one block.
    const joined = Buffer.concat([elsewhere, strong]);
    const armoured = Buffer.from(`-----BEGIN PGP SIGNATURE-----\n\n${joined.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PGP SIGNATURE-----\n`);
    for (const bytes of [joined, armoured]) {
      const r = await readDetachedSignature(bytes, DEFAULT_CRYPTO_POLICY);
      assert.ok(r.ok);
      const first = await checkDetached(tarball, r, r.issuers[0], key, DEFAULT_CRYPTO_POLICY, now);
      assert.equal(first.ok, false);
      assert.match((first as { reason: string }).reason, /^the signature does not verify over the file: /);
      assert.deepEqual(await checkDetached(tarball, r, r.issuers[1], key, DEFAULT_CRYPTO_POLICY, now), { ok: true, created: r.issuers[1].created });
      // Each packet checked with the other key fails, whatever the order.
      assert.equal((await checkDetached(tarball, r, r.issuers[1], other, DEFAULT_CRYPTO_POLICY, now)).ok, false);
    }
  });

  test('not a signature, too large, broken armour: refused with the rule, never thrown', async () => {
    const keyBlock = Buffer.from(await gpg.exportPublic(fpr));
    assert.equal(looksLikeSignature(keyBlock), false);
    const notSig = await readDetachedSignature(keyBlock, DEFAULT_CRYPTO_POLICY);
    assert.deepEqual([notSig.ok, !notSig.ok && notSig.rule], [false, 'not-signature']);
    const text = await readDetachedSignature(Buffer.from('just some text\n'), DEFAULT_CRYPTO_POLICY);
    assert.deepEqual([text.ok, !text.ok && text.rule], [false, 'not-signature']);
    const big = await readDetachedSignature(Buffer.concat([sig, Buffer.alloc(MESSAGE_BOUNDS.detachedSignatureBytes)]), DEFAULT_CRYPTO_POLICY);
    assert.deepEqual([big.ok, !big.ok && big.rule], [false, 'too-large']);
    const cut = await readDetachedSignature(Buffer.from(asc.toString('latin1').replace(/-----END PGP SIGNATURE-----[\s\S]*$/, '')), DEFAULT_CRYPTO_POLICY);
    assert.deepEqual([cut.ok, !cut.ok && cut.rule], [false, 'unreadable']);
  });

  test('in a PGP/MIME mail, the attached .sig is found and the mail\'s own signature is not', async () => {
    const raw = await gpg.pgpMimeMessage(otherFpr, { from: 'r@example.org', to: 'bot@example.org', subject: 'v' }, 'VERIFY bash-5.3.tar.gz\n', {
      attachments: [
        { filename: 'notes.txt', contentType: 'text/plain', content: 'hello' },
        { filename: 'bash-5.3.tar.gz.sig', contentType: 'application/octet-stream', content: sig },
        { filename: 'upstream.asc', contentType: 'application/pgp-keys', content: await gpg.exportPublic(fpr) },
      ],
    });
    const unknownSigner = await verifyMail(raw, Keyring.fromKeys([]), { limits: DEFAULT_LIMITS });
    const files = signatureFiles({ raw, signer: null, verification: unknownSigner }, DEFAULT_LIMITS);
    assert.deepEqual(files.map((f) => [f.filename, f.signed, f.content.equals(sig)]), [['bash-5.3.tar.gz.sig', false, true]]);
    // Signed by a key the bot knows: the same file, now inside the part a good signature covers.
    const known = await verifyMail(raw, Keyring.fromKeys([other]), { limits: DEFAULT_LIMITS });
    assert.equal(known.verdict, 'good');
    const signed = signatureFiles({ raw, signer: otherFpr, verification: known }, DEFAULT_LIMITS);
    assert.deepEqual(signed.map((f) => [f.filename, f.signed]), [['bash-5.3.tar.gz.sig', true]]);
  });

  test('a signed mail with no attachment has no signature file (its own signature.asc is not one)', async () => {
    const raw = await gpg.pgpMimeMessage(otherFpr, { from: 'r@example.org', to: 'bot@example.org', subject: 'v' }, 'VERIFY bash-5.3\n');
    const v = await verifyMail(raw, Keyring.fromKeys([other]), { limits: DEFAULT_LIMITS });
    assert.deepEqual(signatureFiles({ raw, signer: otherFpr, verification: v }, DEFAULT_LIMITS), []);
  });
});
