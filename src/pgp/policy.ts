/**
 * The crypto policy: which hash and key algorithms, key sizes, clock skew and
 * signature ages the bot accepts. This is the ONLY module that decides these
 * things; nothing else may rely on openpgp.js defaults, which change between
 * releases. Signature checks (is it cryptographically valid?) live in the
 * verifiers; the decisions here (is it acceptable?) are kept apart from them,
 * as sigstore-js does, so a policy change never touches verification code.
 */
import * as openpgp from 'openpgp';

export interface CryptoPolicy {
  /** RSA keys below this are refused (weak). */
  minRsaBits: number;
  /** RSA keys below this are accepted with a warning. */
  warnRsaBits: number;
  /** Hash algorithms refused on new signatures (lowercase: md5, sha1, ripemd160). */
  rejectHashes: string[];
  /** Curves accepted for ECDSA/ECDH/EdDSA. */
  allowedCurves: string[];
  /** Accept signatures dated at most this far in the future (seconds). */
  maxClockSkewSeconds: number;
  /** State-changing commands: signature at most this old (seconds). */
  maxSignatureAgeSeconds: number;
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
});

const HASH_IDS: Record<string, number> = {
  md5: openpgp.enums.hash.md5,
  sha1: openpgp.enums.hash.sha1,
  ripemd160: openpgp.enums.hash.ripemd,
};

/**
 * The openpgp.js configuration for VERIFYING. It is deliberately permissive at
 * the library level for things the policy reports as its own verdict ("weak"):
 * we let the library verify SHA-1/DSA/small-RSA signatures so that we can say
 * precisely why we refuse them, and then refuse them in `judge*` below. The
 * things openpgp.js must never relax (e.g. unauthenticated decryption) are
 * not touched.
 */
export function verifyConfig(_policy: CryptoPolicy = DEFAULT_CRYPTO_POLICY): openpgp.PartialConfig {
  return {
    rejectHashAlgorithms: new Set<openpgp.enums.hash>(),
    rejectMessageHashAlgorithms: new Set<openpgp.enums.hash>(),
    rejectPublicKeyAlgorithms: new Set<openpgp.enums.publicKey>(),
    rejectCurves: new Set<openpgp.enums.curve>(),
    minRSABits: 512,
  };
}

/** The openpgp.js configuration for SIGNING (the bot's own replies). */
export function signConfig(): openpgp.PartialConfig {
  return { preferredHashAlgorithm: openpgp.enums.hash.sha512 };
}

export function isRejectedHash(policy: CryptoPolicy, hashName: string): boolean {
  return policy.rejectHashes.includes(hashName.toLowerCase());
}

export function rejectedHashIds(policy: CryptoPolicy): number[] {
  return policy.rejectHashes.map((h) => HASH_IDS[h]).filter((x): x is number => x !== undefined);
}

export type KeyStrength =
  | { ok: true; warning?: string; algorithm: string; bits?: number; curve?: string }
  | { ok: false; reason: string; algorithm: string; bits?: number; curve?: string };

/**
 * Judge a key's public-key algorithm and size against the policy.
 * DSA and ElGamal are refused outright (found only in old collection data,
 * where `audit` reports them instead of dropping them).
 */
export function judgeKeyAlgorithm(
  policy: CryptoPolicy,
  info: { algorithm: string; bits?: number; curve?: string },
): KeyStrength {
  const { algorithm, bits, curve } = info;
  switch (algorithm) {
    case 'rsaEncryptSign':
    case 'rsaSign':
    case 'rsaEncrypt': {
      const b = bits ?? 0;
      if (b < policy.minRsaBits) return { ok: false, reason: `RSA ${b} bits is below the minimum of ${policy.minRsaBits}`, ...info };
      if (b < policy.warnRsaBits) return { ok: true, warning: `RSA ${b} bits is below the recommended ${policy.warnRsaBits}`, ...info };
      return { ok: true, ...info };
    }
    case 'ecdsa':
    case 'eddsaLegacy':
    case 'ed25519':
    case 'ed448':
    case 'ecdh':
    case 'x25519':
    case 'x448': {
      if (curve && !policy.allowedCurves.includes(curve)) return { ok: false, reason: `curve ${curve} is not accepted`, ...info };
      return { ok: true, ...info };
    }
    case 'dsa':
      return { ok: false, reason: 'DSA keys are no longer accepted', ...info };
    case 'elgamal':
      return { ok: false, reason: 'ElGamal keys are no longer accepted', ...info };
    default:
      return { ok: false, reason: `public-key algorithm ${algorithm} is not accepted`, ...info };
  }
}

export type TimeJudgement = { ok: true } | { ok: false; reason: string };

/**
 * Judge a signature's creation time. Every signature is refused when dated
 * more than maxClockSkewSeconds ahead; a signature used for a state-changing
 * command is also refused when older than maxSignatureAgeSeconds (an old
 * signed message replayed from a list archive must not change the collection).
 */
export function judgeSignatureTime(
  policy: CryptoPolicy,
  created: Date,
  now: Date,
  stateChanging: boolean,
): TimeJudgement {
  const ahead = (created.getTime() - now.getTime()) / 1000;
  if (ahead > policy.maxClockSkewSeconds) {
    return { ok: false, reason: `the signature is dated ${Math.round(ahead)} s in the future (more than ${policy.maxClockSkewSeconds} s of clock skew)` };
  }
  if (stateChanging) {
    const age = (now.getTime() - created.getTime()) / 1000;
    if (age > policy.maxSignatureAgeSeconds) {
      return { ok: false, reason: `the signature is ${Math.round(age / 3600)} h old; state-changing commands must be signed within ${Math.round(policy.maxSignatureAgeSeconds / 3600)} h` };
    }
  }
  return { ok: true };
}
