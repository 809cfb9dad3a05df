/**
 * The configured crypto policy: the values config/schema.ts defaults from and
 * config/load.ts fills in. Every decision in src/policy/ reads them from here.
 */
export interface CryptoPolicy {
  /** RSA keys below this are refused (weak). */
  minRsaBits: number;
  /** RSA keys below this are accepted with a warning. */
  warnRsaBits: number;
  /** Hash algorithms refused on new signatures, by their names in HASH_ALGORITHMS (md5, sha1, ripemd160, ...). */
  rejectHashes: string[];
  /** Curves accepted for ECDSA/ECDH/EdDSA (OpenPGP and X.509 keys alike), by openpgp.js's names. */
  allowedCurves: string[];
  /** Accept signatures dated at most this far in the future (seconds). */
  maxClockSkewSeconds: number;
  /** State-changing commands: signature at most this old (seconds). */
  maxSignatureAgeSeconds: number;
  /** Distinct collection keys that must have certified a key before it is admitted. */
  minCertifications: number;
}

export const DEFAULT_CRYPTO_POLICY: Readonly<CryptoPolicy> = Object.freeze({
  minRsaBits: 2048,
  warnRsaBits: 3072,
  rejectHashes: ['md5', 'sha1', 'ripemd160'],
  // openpgp.js v6 names the v4 EdDSA/ECDH curves ed25519Legacy / curve25519Legacy.
  allowedCurves: ['ed25519', 'ed25519Legacy', 'ed448', 'curve25519', 'curve25519Legacy', 'x25519', 'x448', 'nistP256', 'nistP384', 'nistP521',
    'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1'],
  maxClockSkewSeconds: 300,
  maxSignatureAgeSeconds: 7 * 24 * 3600,
  minCertifications: 1,
});

export function isRejectedHash(policy: CryptoPolicy, hashName: string): boolean {
  return policy.rejectHashes.includes(hashName.toLowerCase());
}
