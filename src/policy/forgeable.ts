/**
 * Public keys anyone can make signatures for, whatever their algorithm and
 * size: an RSA key with the public exponent 1 (a "signature" is then the
 * padded digest itself) or an even exponent (no RSA key has one), and an
 * Ed25519 key whose public point has small order (with the identity point,
 * R = identity and S = 0 verify for every message). openpgp.js and OpenSSL
 * verify such signatures as the arithmetic says; GnuPG-made keys never have
 * these values. This module states the fact from the key's parameters; the
 * policy (src/policy/) refuses the key, an OpenPGP key or a CA
 * certificate's (whose self-signature such a key lets anyone make, and
 * so every certificate under it).
 */

/**
 * The encodings of the Ed25519 points of small order (orders 1, 2, 4, 8),
 * canonical and not, as libsodium's blocklist (ge25519_has_small_order)
 * holds them; compared with the x sign bit (the top bit of the last octet)
 * cleared, so each stands for both signs. test/unit/forgeable-keys.test.ts
 * checks each against the curve's arithmetic.
 */
export const SMALL_ORDER_ED25519: readonly string[] = Object.freeze([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);
const SMALL_ORDER = new Set(SMALL_ORDER_ED25519);

export function isSmallOrderEd25519(point: Uint8Array): boolean {
  if (point.length !== 32) return false;
  const p = Buffer.from(point);
  p[31] &= 0x7f;
  return SMALL_ORDER.has(p.toString('hex'));
}

/** An unsigned big-endian integer (empty: 0). */
export function bigFromBytes(b: Uint8Array): bigint {
  return b.length ? BigInt(`0x${Buffer.from(b).toString('hex')}`) : 0n;
}

/** Ed448's field prime, 2^448 - 2^224 - 1. */
const ED448_P = 2n ** 448n - 2n ** 224n - 1n;

/**
 * Whether an Ed448 public key (57 octets, y little-endian, the x sign in the
 * top bit) is a point of small order: y = 1 (the identity), y = -1 (order
 * 2) or y = 0 (the points (+-1, 0), order 4), canonical or not. With one of
 * them a single constant signature verifies for every message (found by an
 * attack review: the 57 zero octets, with R = the key and S = 0).
 */
export function isSmallOrderEd448(point: Uint8Array): boolean {
  if (point.length !== 57) return false;
  const b = Buffer.from(point);
  b[56] &= 0x7f;
  const y = bigFromBytes(b.reverse()) % ED448_P;
  return y === 0n || y === 1n || y === ED448_P - 1n;
}

/** Why anyone could sign for an EdDSA key (Ed25519 or Ed448) with this public point, or null. */
export function forgeableEdPoint(point: Uint8Array): string | null {
  if (point.length === 32 && isSmallOrderEd25519(point)) return 'an Ed25519 public point of small order';
  if (point.length === 57 && isSmallOrderEd448(point)) return 'an Ed448 public point of small order';
  return null;
}

/** `base^exp mod m`, square and multiply (exp at most 64 bits here: a few dozen steps). */
function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let r = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

/**
 * Why anyone could sign for an RSA key with public exponent `e` and
 * modulus `n` (when known), or null:
 * - e below 3, or even (no RSA key has one);
 * - e over 64 bits: no key generator makes one (GnuPG and OpenSSL use
 *   65537; OpenSSL refuses more than 64 bits for moduli over 3072 bits),
 *   and one of that size can be 1 + lambda(n), for which x^e = x: the
 *   padded digest is its own signature (found by an attack review);
 * - e = 1 modulo lambda(n) for a smaller e, tested as 2^e = 2 and 3^e = 3
 *   (mod n), the same forgery with a modulus of many small primes.
 */
export function forgeableRsaKey(e: bigint, n?: bigint): string | null {
  if (e < 3n) return `RSA public exponent ${e}`;
  if (e % 2n === 0n) return `an even RSA public exponent (${e > 1_000_000n ? `${e.toString(2).length} bits` : String(e)})`;
  if (e >= 2n ** 64n) return `an RSA public exponent of ${e.toString(2).length} bits (over 64)`;
  if (n !== undefined && n > 3n && modPow(2n, e, n) === 2n && modPow(3n, e, n) === 3n) return 'an RSA public exponent that leaves every value unchanged (1 modulo lambda(n))';
  return null;
}

/** The public parameters of openpgp.js's key packets that matter here. */
export interface PublicParams { e?: Uint8Array; n?: Uint8Array; Q?: Uint8Array; A?: Uint8Array }

const rsaJudged = new WeakMap<PublicParams, string | null>();

/**
 * Why anyone could sign for a key with these parameters (openpgp.js's
 * algorithm name), or null. Only the kinds above are recognised.
 */
export function forgeableBecause(algorithm: string, params: PublicParams | undefined): string | null {
  if (!params) return null;
  if ((algorithm === 'rsaEncryptSign' || algorithm === 'rsaSign') && params.e) {
    // Once per key packet (its parameters object): the modulus test costs
    // tens of microseconds, and a signer's key is judged at every message.
    let why = rsaJudged.get(params);
    if (why === undefined) rsaJudged.set(params, (why = forgeableRsaKey(bigFromBytes(params.e), params.n ? bigFromBytes(params.n) : undefined)));
    if (why) return why;
  }
  // EdDSALegacy: the point after its 0x40 prefix; RFC 9580 Ed25519 and Ed448: the point itself.
  const point = algorithm === 'eddsaLegacy' && params.Q?.length === 33 && params.Q[0] === 0x40 ? params.Q.subarray(1)
    : algorithm === 'ed25519' || algorithm === 'ed448' ? params.A : undefined;
  return point ? forgeableEdPoint(point) : null;
}
