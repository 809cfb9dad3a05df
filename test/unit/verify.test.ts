/**
 * The Keyring API and verifyMail's handling of unusual but legitimate
 * shapes (binary signature parts, several armour blocks) and of hostile
 * input, with keys and signatures from real gpg.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { PgpError } from '../../src/errors.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { verifyMail, type MailVerification, type Verdict } from '../../src/mail/verify-mail.js';

let home: GpgHome;
let a: string; // ed25519 primary + cv25519 encryption subkey
let b: string; // rsa2048 (fast to make) with an encryption subkey
let armouredA: string;
let armouredB: string;

before(async () => {
  home = await makeGpgHome();
  a = await home.genKey('A <a@example.org>', { algo: 'ed25519' });
  b = await home.genKey('B <b@example.org>', { algo: 'rsa2048' });
  armouredA = await home.exportPublic(a);
  armouredB = await home.exportPublic(b);
});

after(async () => {
  await home?.cleanup();
});

async function subkeyIds(fpr: string): Promise<string[]> {
  const r = await home.run(['--with-colons', '--list-keys', fpr]);
  return r.stdout.toString().split('\n').filter((l) => l.startsWith('sub:')).map((l) => l.split(':')[4]);
}

describe('Keyring', () => {
  test('several armour blocks, and several keys in one block', async () => {
    const two = await Keyring.fromArmored(`comment line\n${armouredA}\nsome text between\n${armouredB}`);
    assert.equal(two.size, 2);
    const oneBlock = (await home.run(['--armor', '--export', a, b])).stdout.toString();
    const fromOne = await Keyring.fromArmored(oneBlock);
    assert.deepEqual(fromOne.all().map((k) => k.getFingerprint().toUpperCase()).sort(), [a, b].sort());
  });

  test('lookup by primary or subkey id in any case, and by fingerprint', async () => {
    const kr = await Keyring.fromArmored(armouredA + armouredB);
    assert.equal(kr.findByKeyId(a.slice(-16))?.getFingerprint().toUpperCase(), a);
    assert.equal(kr.findByKeyId(a.slice(-16).toLowerCase())?.getFingerprint().toUpperCase(), a);
    const [subB] = await subkeyIds(b);
    assert.match(subB, /^[0-9A-F]{16}$/);
    assert.equal(kr.findByKeyId(subB.toLowerCase())?.getFingerprint().toUpperCase(), b);
    assert.equal(kr.findByFingerprint(b.toLowerCase())?.getFingerprint().toUpperCase(), b);
    assert.equal(kr.findByKeyId('0123456789ABCDEF'), undefined);
    assert.deepEqual(kr.findAllByKeyId(a.slice(-16)).length, 1);
  });

  test('duplicates are merged; private blocks are reduced to public keys; fromKeys dedupes', async () => {
    const kr = await Keyring.fromArmored(armouredA + armouredA);
    assert.equal(kr.size, 1);
    const secret = (await home.run(['--armor', '--export-secret-keys', a])).stdout.toString();
    assert.match(secret, /PRIVATE KEY BLOCK/);
    const fromSecret = await Keyring.fromArmored(secret);
    assert.equal(fromSecret.size, 1);
    assert.equal(fromSecret.all()[0].isPrivate(), false);
    assert.equal(Keyring.fromKeys([...kr.all(), ...kr.all()]).size, 1);
    assert.equal(Keyring.fromKeys([]).size, 0);
  });

  test('no key block, or a damaged one, is a PgpError PGP_PARSE', async () => {
    await assert.rejects(Keyring.fromArmored('hello'), (e: unknown) => e instanceof PgpError && e.code === 'PGP_PARSE');
    const damaged = armouredA.replace(/\n([A-Za-z0-9+/]{20})/, '\n!!!!!!!!!!!!!!!!!!!!');
    await assert.rejects(Keyring.fromArmored(damaged), (e: unknown) => e instanceof PgpError && e.code === 'PGP_PARSE');
  });
});

function eq(r: MailVerification, verdict: Verdict): void {
  assert.equal(r.verdict, verdict, `${r.verdict}: ${r.detail}`);
}

describe('verifyMail shapes', () => {
  test('a base64-encoded binary (unarmoured) signature part verifies', async () => {
    const inner = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nHELP\r\n';
    const sig = await home.detachSign(a, Buffer.from(inner), { armor: false });
    const msg = [
      'From: a@example.org', 'Subject: binary sig', 'MIME-Version: 1.0',
      'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha512; boundary=XyZ', '',
      '--XyZ', inner, '--XyZ', 'Content-Type: application/pgp-signature', 'Content-Transfer-Encoding: base64', '',
      sig.toString('base64').replace(/(.{64})/g, '$1\r\n'), '--XyZ--', '',
    ].join('\r\n');
    const r = await verifyMail(Buffer.from(msg), await Keyring.fromArmored(armouredA));
    eq(r, 'good');
    assert.equal(r.signer, a);
    assert.equal(r.signedText, 'HELP\n');
  });

  test('a signature part that holds a key, or the wrong content type, is bad', async () => {
    const inner = 'Content-Type: text/plain\r\n\r\nHELP\r\n';
    const build = (sigType: string, sigBody: string) => Buffer.from([
      'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary=q', '',
      '--q', inner, '--q', `Content-Type: ${sigType}`, '', sigBody, '--q--', '',
    ].join('\r\n'));
    const kr = await Keyring.fromArmored(armouredA);
    const withKey = await verifyMail(build('application/pgp-signature', armouredA), kr);
    eq(withKey, 'bad');
    assert.match(withKey.detail, /could not be read/);
    const wrongType = await verifyMail(build('text/plain', 'hello'), kr);
    eq(wrongType, 'bad');
    assert.match(wrongType.detail, /not application\/pgp-signature/);
    const noParts = await verifyMail(Buffer.from('Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary=q\r\n\r\nno parts\r\n'), kr);
    eq(noParts, 'bad');
    assert.equal(noParts.kind, 'pgpmime');
  });

  test('a signature over the part with LF instead of CRLF (a broken client) is bad, not good', async () => {
    const innerLf = 'Content-Type: text/plain\n\nHELP\n';
    const sig = await home.detachSign(a, Buffer.from(innerLf), { armor: true });
    const msg = [
      'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary=q', '',
      '--q', innerLf.replace(/\n$/, ''), '', '--q', 'Content-Type: application/pgp-signature', '', sig.toString(), '--q--', '',
    ].join('\n');
    eq(await verifyMail(Buffer.from(msg), await Keyring.fromArmored(armouredA)), 'bad');
  });

  test('hostile input never throws', async () => {
    const kr = await Keyring.fromArmored(armouredA);
    const inputs: Buffer[] = [
      Buffer.alloc(0),
      randomBytes(4096),
      Buffer.from('\r\n\r\n\r\n'),
      Buffer.from(`Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="${'x'.repeat(5000)}"\r\n\r\n`),
      Buffer.from('Content-Type: text/plain\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\n=AAAA\r\n-----END PGP SIGNATURE-----\r\n'),
      Buffer.from('Content-Type: text/plain\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi\r\n'),
      Buffer.from('Content-Type: text/plain; charset=iso-8859-1\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n\xe9\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\nZm9v\r\n-----END PGP SIGNATURE-----\r\n', 'latin1'),
      Buffer.from('Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n'),
      Buffer.from(`Subject: ${'a'.repeat(200_000)}\r\n\r\nbody`),
    ];
    for (const raw of inputs) {
      const r = await verifyMail(raw, kr);
      assert.ok(['unsigned', 'malformed', 'bad'].includes(r.verdict), `${r.verdict}: ${r.detail}`);
      assert.equal(r.signedText, null);
      assert.ok(r.detail.length > 0 && !r.detail.includes('\n'));
    }
    const smime = await verifyMail(inputs[7], kr);
    assert.equal(smime.unsupported, 'smime');
  });
});
