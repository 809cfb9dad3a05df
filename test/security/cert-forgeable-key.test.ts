/**
 * Attack: a CA certificate whose key anyone can sign for. An openssl-made
 * RSA root has its public key swapped for the same modulus with exponent 1,
 * and its self-signature replaced by the PKCS #1 padded digest of the new
 * to-be-signed bytes, which is then a valid signature (s^1 = s): node:crypto
 * verifies it. An Ed25519 root with the identity point is forged the same
 * way (R = the base point, S = 1 verify for every message). Such a root
 * would vouch for any certificate anyone cares to make. The certificate
 * carries a valid detached signature by a collection key (Carol), so only
 * the certificate policy stands between it and a ticket: refused with the
 * rule `ca-certificate` and POLICY_KEY_FORGEABLE's words, no ticket,
 * nothing changed. Everything is forged at test time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHash, createPublicKey, generatePrimeSync, X509Certificate } from 'node:crypto';
import { checkCaCert } from '../../src/pki/x509.js';
import { assertCertRefused, noOpenssl, selfSigned } from './certs.js';

/** One DER element: its tag, header length and whole length, at `at`. */
function element(der: Buffer, at: number): { tag: number; head: number; end: number } {
  let n = der[at + 1];
  let head = 2;
  if (n & 0x80) {
    const k = n & 0x7f;
    n = 0;
    for (let i = 0; i < k; i++) n = n * 256 + der[at + 2 + i];
    head += k;
  }
  return { tag: der[at], head, end: at + head + n };
}

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function pemToDer(pem: Buffer): Buffer {
  return Buffer.from(pem.toString('latin1').replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

function derToPem(der: Buffer): Buffer {
  return Buffer.from(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
}

/** `cert` with its public key replaced by `spki` and its signature made by `sign` over the new to-be-signed bytes. */
function reforge(certPem: Buffer, spki: Buffer, sign: (tbs: Buffer) => Buffer): Buffer {
  const der = pemToDer(certPem);
  const outer = element(der, 0);
  const tbs = element(der, outer.head);
  const alg = element(der, tbs.end);
  const oldSpki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  const tbsBody = der.subarray(tbs.head + outer.head, tbs.end);
  const at = tbsBody.indexOf(oldSpki);
  assert.ok(at > 0, 'the certificate carries its key as exported');
  const newTbs = tlv(0x30, Buffer.concat([tbsBody.subarray(0, at), spki, tbsBody.subarray(at + oldSpki.length)]));
  const signature = tlv(0x03, Buffer.concat([Buffer.from([0]), sign(newTbs)]));
  return derToPem(tlv(0x30, Buffer.concat([newTbs, der.subarray(tbs.end, alg.end), signature])));
}

/** RSA root, exponent 1: the signature is EMSA-PKCS1-v1_5 of SHA-256, as the integer it is. */
function rsaExponentOne(): Buffer {
  const pem = selfSigned('Forged RSA Root', { key: 'rsa:2048' });
  const jwk = new X509Certificate(pem).publicKey.export({ format: 'jwk' });
  const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: 'AQ' }, format: 'jwk' });
  const size = Buffer.from(jwk.n!, 'base64url').length;
  const forged = reforge(pem, key.export({ type: 'spki', format: 'der' }), (tbs) => {
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(tbs).digest()]);
    return Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(size - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]);
  });
  const x = new X509Certificate(forged);
  assert.equal(x.publicKey.asymmetricKeyDetails?.publicExponent, 1n);
  assert.ok(x.verify(x.publicKey), 'the forged self-signature verifies: the attack is real');
  return forged;
}

/** Ed25519 root, the identity point: R = the base point, S = 1. */
function ed25519Identity(): Buffer {
  const pem = selfSigned('Forged Ed25519 Root', { key: 'ed25519' });
  const point = Buffer.alloc(32);
  point[0] = 1;
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), point]);
  const s = Buffer.alloc(32);
  s[0] = 1;
  const forged = reforge(pem, spki, () => Buffer.concat([Buffer.from('58' + '66'.repeat(31), 'hex'), s]));
  const x = new X509Certificate(forged);
  assert.ok(x.verify(x.publicKey), 'the forged self-signature verifies: the attack is real');
  return forged;
}

/** Ed448 root whose point is (1, 0), order 4 (57 zero octets): R = that point and S = 0 verify for every message. */
function ed448SmallOrder(): Buffer {
  const pem = selfSigned('Forged Ed448 Root', { key: 'ed448' });
  const zero = Buffer.alloc(57);
  const forged = reforge(pem, Buffer.concat([Buffer.from('3043300506032b6571033a00', 'hex'), zero]), () => Buffer.concat([zero, Buffer.alloc(57)]));
  const x = new X509Certificate(forged);
  assert.ok(x.verify(x.publicKey), 'the forged self-signature verifies: the attack is real');
  return forged;
}

/** RSA root with e = 1 + lambda(n): x^e = x for every x, so the padded digest is its own signature. */
function rsaLambdaPlusOne(): Buffer {
  const p = generatePrimeSync(1024, { bigint: true });
  const q = generatePrimeSync(1024, { bigint: true });
  const gcd = (a: bigint, b: bigint): bigint => (b ? gcd(b, a % b) : a);
  const n = p * q;
  const e = 1n + ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  const hex = (v: bigint) => { const h = v.toString(16); return Buffer.from(h.length % 2 ? `0${h}` : h, 'hex'); };
  const size = hex(n).length;
  const key = createPublicKey({ key: { kty: 'RSA', n: hex(n).toString('base64url'), e: hex(e).toString('base64url') }, format: 'jwk' });
  const forged = reforge(selfSigned('Forged RSA Root', { key: 'rsa:2048' }), key.export({ type: 'spki', format: 'der' }), (tbs) => {
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(tbs).digest()]);
    return Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(size - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]);
  });
  const x = new X509Certificate(forged);
  assert.ok(x.verify(x.publicKey), 'the forged self-signature verifies: the attack is real');
  return forged;
}

/** A root whose SubjectPublicKeyInfo is `alg` with the key octets `bits` (its signature is junk: never reached). */
function withKey(alg: string, bits: Buffer): Buffer {
  const spki = tlv(0x30, Buffer.concat([Buffer.from(alg, 'hex'), tlv(0x03, Buffer.concat([Buffer.from([0]), bits]))]));
  return reforge(selfSigned('Odd Key Root'), spki, () => Buffer.from('3006020101020101', 'hex'));
}

describe('security: SUBMIT CERT', { skip: noOpenssl }, () => {
  test('an RSA root with public exponent 1 (self-signature forged without a secret): refused as a key anyone can sign for', async () => {
    const pem = rsaExponentOne();
    const check = checkCaCert(pem);
    assert.deepEqual(check.codes, ['POLICY_KEY_FORGEABLE']);
    assert.equal(check.bits, 2048);
    await assertCertRefused(() => pem, /RSA public exponent 1: anyone can make signatures that verify with this key/);
  });

  test('an Ed25519 root whose point is the identity (self-signature forged without a secret): refused as a key anyone can sign for', async () => {
    const pem = ed25519Identity();
    assert.deepEqual(checkCaCert(pem).codes, ['POLICY_KEY_FORGEABLE']);
    await assertCertRefused(() => pem, /an Ed25519 public point of small order: anyone can make signatures that verify with this key/);
  });

  test('an Ed448 root whose point has small order, and an RSA root with e = 1 + lambda(n), self-signatures forged: refused as keys anyone can sign for', async () => {
    const ed448 = ed448SmallOrder();
    assert.deepEqual(checkCaCert(ed448).codes, ['POLICY_KEY_FORGEABLE']);
    await assertCertRefused(() => ed448, /an Ed448 public point of small order: anyone can make signatures that verify with this key/);
    const lambda = rsaLambdaPlusOne();
    assert.deepEqual(checkCaCert(lambda).codes, ['POLICY_KEY_FORGEABLE']);
    await assertCertRefused(() => lambda, /an RSA public exponent of \d+ bits \(over 64\): anyone can make signatures that verify with this key/);
  });

  test('keys node cannot read, and a P-256 key that is the point at infinity (reading its details aborted the process): refused as unreadable, never a throw', () => {
    const P256 = '301306072a8648ce3d020106082a8648ce3d030107';
    const cases: [string, Buffer][] = [
      ['the point at infinity', withKey(P256, Buffer.from([0]))],
      ['a point not on the curve', withKey(P256, Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]))],
      ['an unknown algorithm', withKey('300506032a0304', Buffer.alloc(32, 7))],
      ['an Ed25519 key of 31 octets', withKey('300506032b6570', Buffer.alloc(31, 1))],
    ];
    for (const [what, pem] of cases) {
      const check = checkCaCert(pem);
      assert.equal(check.ok, false, what);
      assert.ok(check.codes.includes('X509_UNREADABLE'), `${what}: ${check.codes.join(', ')}`);
      assert.ok(check.reasons.some((r) => /its public key cannot be read/.test(r)), `${what}: ${check.reasons.join('; ')}`);
    }
  });

  test('the same roots made by openssl with ordinary keys are not called forgeable', () => {
    for (const key of ['rsa:2048', 'ed25519', 'ed448']) {
      const check = checkCaCert(selfSigned(`Honest ${key} Root`, { key }));
      assert.deepEqual(check.codes, [], `${key}: ${check.reasons.join('; ')}`);
      assert.equal(check.ok, true);
    }
  });
});
