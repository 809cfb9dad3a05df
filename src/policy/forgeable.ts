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

/** Why anyone could sign for an Ed25519 key with this public point, or null. */
export function forgeableEd25519Point(point: Uint8Array): string | null {
  return isSmallOrderEd25519(point) ? 'an Ed25519 public point of small order' : null;
}

/** The public parameters of openpgp.js's key packets that matter here. */
export interface PublicParams { e?: Uint8Array; Q?: Uint8Array; A?: Uint8Array }

/** Why anyone could sign for an RSA key with public exponent `e`, or null. */
export function forgeableRsaExponent(e: bigint): string | null {
  if (e < 3n) return `RSA public exponent ${e}`;
  if (e % 2n === 0n) return `an even RSA public exponent (${e > 1_000_000n ? `${e.toString(2).length} bits` : String(e)})`;
  return null;
}

/**
 * Why anyone could sign for a key with these parameters (openpgp.js's
 * algorithm name), or null. Only the kinds above are recognised.
 */
export function forgeableBecause(algorithm: string, params: PublicParams | undefined): string | null {
  if (!params) return null;
  if ((algorithm === 'rsaEncryptSign' || algorithm === 'rsaSign') && params.e) {
    const why = forgeableRsaExponent(params.e.length ? BigInt(`0x${Buffer.from(params.e).toString('hex')}`) : 0n);
    if (why) return why;
  }
  // EdDSALegacy: the point after its 0x40 prefix; RFC 9580 Ed25519: the point itself.
  const point = algorithm === 'eddsaLegacy' && params.Q?.length === 33 && params.Q[0] === 0x40 ? params.Q.subarray(1)
    : algorithm === 'ed25519' ? params.A : undefined;
  return point ? forgeableEd25519Point(point) : null;
}
