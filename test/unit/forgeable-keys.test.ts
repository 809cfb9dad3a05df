/**
 * Keys anyone can sign for (src/policy/forgeable.ts) and the policy's refusal
 * of them: the small-order Ed25519 encodings checked against the curve's
 * own arithmetic (not taken on trust from the list), RSA exponents, and
 * real GnuPG keys, which are never flagged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { forgeableBecause, forgeableEdPoint, forgeableRsaKey, isSmallOrderEd25519, isSmallOrderEd448, SMALL_ORDER_ED25519 } from '../../src/policy/forgeable.js';
import { generateKeyPairSync } from 'node:crypto';
import { algorithmInfo } from '../../src/pgp/inspect.js';
import { DEFAULT_CRYPTO_POLICY, isAlgorithmCode, judgeKeyAlgorithm } from '../../src/policy/index.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

// Ed25519 (RFC 8032): -x^2 + y^2 = 1 + d x^2 y^2 over p = 2^255 - 19.
const P = (1n << 255n) - 19n;
const mod = (a: bigint) => ((a % P) + P) % P;
const pow = (b: bigint, e: bigint) => { let r = 1n; b = mod(b); while (e > 0n) { if (e & 1n) r = mod(r * b); b = mod(b * b); e >>= 1n; } return r; };
const inv = (a: bigint) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
type Point = [bigint, bigint];

/** The point an encoding names (y little-endian, reduced mod p, as verifiers read a non-canonical one), or null when it names none. */
function decode(hex: string): Point | null {
  const b = Buffer.from(hex, 'hex');
  b[31] &= 0x7f;
  const y = mod(BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`));
  const u = mod((y * y - 1n) * inv(D * y * y + 1n));
  let x = pow(u, (P + 3n) / 8n);
  if (mod(x * x) !== u) x = mod(x * pow(2n, (P - 1n) / 4n));
  return mod(x * x) === u ? [x, y] : null;
}
function add([x1, y1]: Point, [x2, y2]: Point): Point {
  const t = mod(D * x1 * x2 * y1 * y2);
  return [mod((x1 * y2 + y1 * x2) * inv(1n + t)), mod((y1 * y2 + x1 * x2) * inv(1n - t))];
}
const times8 = (p: Point): Point => { let q = p; for (let i = 0; i < 3; i++) q = add(q, q); return q; };
const isIdentity = ([x, y]: Point) => x === 0n && y === 1n;

let gpg: GpgHome;
before(async () => { gpg = await makeGpgHome(); });
after(async () => { await gpg.cleanup(); });

test('each listed Ed25519 encoding is a point of order dividing 8, by the curve arithmetic; the base point is not', () => {
  for (const hex of SMALL_ORDER_ED25519) {
    const p = decode(hex);
    assert.ok(p, `${hex} names a point`);
    assert.ok(isIdentity(times8(p)), `${hex}: 8 times the point is the identity`);
    assert.equal(isSmallOrderEd25519(Buffer.from(hex, 'hex')), true);
    const signed = Buffer.from(hex, 'hex');
    signed[31] |= 0x80; // the other x sign
    assert.equal(isSmallOrderEd25519(signed), true, `${hex} with the sign bit set`);
  }
  // y = 4/5: the base point, of prime order; the arithmetic above can say no.
  const y = mod(4n * inv(5n));
  const base = Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse().toString('hex');
  assert.equal(isIdentity(times8(decode(base)!)), false);
  assert.equal(isSmallOrderEd25519(Buffer.from(base, 'hex')), false);
});

test('RSA exponents: 0, 1, 2 and even ones are forgeable; 3 and 65537 are not', () => {
  const e = (n: number) => ({ e: Buffer.from(n.toString(16).padStart(n > 0xffff ? 6 : 2, '0'), 'hex') });
  assert.equal(forgeableBecause('rsaEncryptSign', e(1)), 'RSA public exponent 1');
  assert.equal(forgeableBecause('rsaSign', { e: Buffer.alloc(0) }), 'RSA public exponent 0');
  assert.equal(forgeableBecause('rsaEncryptSign', e(2)), 'RSA public exponent 2');
  assert.match(forgeableBecause('rsaEncryptSign', e(65536)) ?? '', /^an even RSA public exponent/);
  assert.equal(forgeableBecause('rsaEncryptSign', e(3)), null);
  assert.equal(forgeableBecause('rsaEncryptSign', e(65537)), null);
});

test('RSA exponents over 64 bits, and one that is 1 modulo lambda(n), are forgeable; 65537 with the same modulus and a real modulus are not', () => {
  // A modulus of primes p with p - 1 dividing 720720 (lcm of 1..16): lambda(n) divides 720720, so e = 720721 leaves every value as it was.
  const primes = [7n, 11n, 13n, 17n, 31n, 37n, 41n, 43n, 61n, 71n, 73n, 79n, 89n, 181n, 241n, 337n];
  for (const q of primes) assert.equal(720720n % (q - 1n), 0n, `${q} - 1 divides 720720`);
  const n = primes.reduce((a, b) => a * b, 1n);
  assert.match(forgeableRsaKey(720721n, n) ?? '', /1 modulo lambda\(n\)/);
  assert.equal(forgeableRsaKey(65537n, n), null);
  assert.match(forgeableRsaKey(2n ** 64n + 1n) ?? '', /of 65 bits \(over 64\)/);
  const bytes = (v: bigint) => Buffer.from(v.toString(16).padStart(2 * Math.ceil(v.toString(16).length / 2), '0'), 'hex');
  assert.match(forgeableBecause('rsaEncryptSign', { e: bytes(720721n), n: bytes(n) }) ?? '', /1 modulo lambda\(n\)/);
  const real = BigInt(`0x${'c5'.repeat(256)}`) | 1n;
  assert.equal(forgeableRsaKey(65537n, real), null);
});

test('Ed448 points of small order (y = 0, 1 or -1, canonical or not, either sign) are forgeable; the base point is not', () => {
  const p = 2n ** 448n - 2n ** 224n - 1n;
  const enc = (y: bigint, sign = false) => {
    const b = Buffer.from(y.toString(16).padStart(114, '0'), 'hex').reverse();
    if (sign) b[56] |= 0x80;
    return b;
  };
  for (const y of [0n, 1n, p - 1n, p, p + 1n]) {
    for (const sign of [false, true]) assert.equal(isSmallOrderEd448(enc(y, sign)), true, `y=${y === p ? 'p' : y === p + 1n ? 'p+1' : y === p - 1n ? 'p-1' : y}`);
  }
  assert.equal(forgeableBecause('ed448', { A: enc(1n) }), 'an Ed448 public point of small order');
  // The base point of RFC 8032 (its y), and a real key from node:crypto.
  const baseY = 298819210078481492676017930443930673437544040154080242095928241372331506189835876003536878655418784733982303233503462500531545062832660n;
  assert.equal(isSmallOrderEd448(enc(baseY)), false);
  const real = Buffer.from(generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  assert.equal(forgeableEdPoint(real), null);
});

test('the policy refuses a forgeable key as weak, before its size; real GnuPG keys are not flagged', async () => {
  const j = judgeKeyAlgorithm(DEFAULT_CRYPTO_POLICY, { algorithm: 'rsaEncryptSign', bits: 4096, forgeable: 'RSA public exponent 1' });
  assert.equal(j.ok, false);
  assert.equal(!j.ok && j.code, 'POLICY_KEY_FORGEABLE');
  assert.ok(isAlgorithmCode('POLICY_KEY_FORGEABLE'), 'a weak-key code: the mail verdict is weak, audit says PKI_WEAK');
  assert.match(!j.ok ? j.reason : '', /^RSA public exponent 1: anyone can make signatures that verify with this key$/);
  assert.equal('forgeable' in j, false, 'the judgement carries the key facts, not the flag');
  for (const algo of ['ed25519', 'rsa3072'] as const) {
    const key = await openpgp.readKey({ armoredKey: await gpg.exportPublic(await gpg.genKey(`${algo} <${algo}@forge.test>`, { algo })) });
    for (const k of [key, ...key.subkeys]) assert.equal(algorithmInfo(k).forgeable, undefined, `${algo}: ${JSON.stringify(algorithmInfo(k))}`);
    assert.equal(judgeKeyAlgorithm(DEFAULT_CRYPTO_POLICY, algorithmInfo(key)).ok, true);
  }
});
