/**
 * Keys anyone can sign for (src/policy/forgeable.ts) and the policy's refusal
 * of them: the small-order Ed25519 encodings checked against the curve's
 * own arithmetic (not taken on trust from the list), RSA exponents, and
 * real GnuPG keys, which are never flagged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { forgeableBecause, isSmallOrderEd25519, SMALL_ORDER_ED25519 } from '../../src/policy/forgeable.js';
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
