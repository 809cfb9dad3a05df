/**
 * The OpenPGP half of the crypto policy: the RFC 9580 hash and public-key
 * registries, what each id, key size and curve gets, and the openpgp.js
 * configurations. Signature checks (is it cryptographically valid?) live in
 * the verifiers; the decisions here (is it acceptable?) are kept apart from
 * them, as sigstore-js does, so a policy change never touches verification
 * code. Nothing may rely on openpgp.js defaults, which change between releases.
 */
import * as openpgp from 'openpgp';
import type { PolicyCode } from './codes.js';
import { DEFAULT_CRYPTO_POLICY, isRejectedHash, type CryptoPolicy } from './settings.js';
import { line } from '../templates.js';

// ---------------------------------------------------------------------------
// The registries. ONE table of hash ids and ONE of public-key ids (RFC 9580
// sections 9.1 and 9.5); every other module names and judges algorithms
// through them, so a name can never differ between the key inspector and the
// mail verifier (RIPEMD-160 was once 'ripemd160' in one and 'ripemd' in the
// other, and so slipped past the policy).

export interface HashAlgorithm {
  id: number;
  /** The policy's (and the config's) name. */
  name: string;
  /** As RFC 9580 and people write it. */
  label: string;
  /** Digest size. */
  bits: number;
}

/** RFC 9580 table 23. Ids 4-7 and 13 are reserved, 100-110 private/experimental; nothing else is assigned. */
const HASH_TABLE = [
  { id: 1, name: 'md5', label: 'MD5', bits: 128 },
  { id: 2, name: 'sha1', label: 'SHA-1', bits: 160 },
  { id: 3, name: 'ripemd160', label: 'RIPEMD-160', bits: 160 },
  { id: 8, name: 'sha256', label: 'SHA2-256', bits: 256 },
  { id: 9, name: 'sha384', label: 'SHA2-384', bits: 384 },
  { id: 10, name: 'sha512', label: 'SHA2-512', bits: 512 },
  { id: 11, name: 'sha224', label: 'SHA2-224', bits: 224 },
  { id: 12, name: 'sha3_256', label: 'SHA3-256', bits: 256 },
  { id: 14, name: 'sha3_512', label: 'SHA3-512', bits: 512 },
] as const satisfies readonly HashAlgorithm[];
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = Object.freeze(HASH_TABLE);

export type HashName = (typeof HASH_TABLE)[number]['name'];
/** Every hash name the config may list in policy.rejectHashes: the table's, so the schema can never know one the policy does not. */
export const HASH_NAMES = HASH_TABLE.map((h) => h.name) as [HashName, ...HashName[]];

const RESERVED_HASH_IDS = new Set([4, 5, 6, 7, 13]);

export interface PublicKeyAlgorithm {
  id: number;
  /** openpgp.js's name (enums.publicKey), which the key reports use. */
  name: string;
  label: string;
  /** The algorithm can make signatures at all. */
  signs: boolean;
  /**
   * 'rsa': judged by modulus size; 'curve': by curve; 'refused': never
   * accepted on new signatures (DSA, ElGamal), flagged in old data.
   */
  judge: 'rsa' | 'curve' | 'refused' | 'none';
  /** Smallest hash that may go with it (RFC 9580 5.2.3.3-5.2.3.5), in bits. */
  minHashBits?: number;
}

/** RFC 9580 table 18. Ids 21, 23, 24 are reserved, 100-110 private/experimental. */
export const PUBLIC_KEY_ALGORITHMS: readonly PublicKeyAlgorithm[] = Object.freeze([
  { id: 1, name: 'rsaEncryptSign', label: 'RSA', signs: true, judge: 'rsa' },
  { id: 2, name: 'rsaEncrypt', label: 'RSA Encrypt-Only', signs: false, judge: 'rsa' },
  { id: 3, name: 'rsaSign', label: 'RSA Sign-Only', signs: true, judge: 'rsa' },
  { id: 16, name: 'elgamal', label: 'ElGamal', signs: false, judge: 'refused' },
  { id: 17, name: 'dsa', label: 'DSA', signs: true, judge: 'refused' },
  { id: 18, name: 'ecdh', label: 'ECDH', signs: false, judge: 'curve' },
  { id: 19, name: 'ecdsa', label: 'ECDSA', signs: true, judge: 'curve' },
  // "Formerly ElGamal Encrypt or Sign": GnuPG 1.x made such signatures; they are broken (Nguyen 2004).
  { id: 20, name: 'elgamalEncryptSign', label: 'ElGamal Encrypt-or-Sign', signs: true, judge: 'refused' },
  { id: 22, name: 'eddsaLegacy', label: 'EdDSALegacy (Ed25519)', signs: true, judge: 'curve', minHashBits: 256 },
  { id: 25, name: 'x25519', label: 'X25519', signs: false, judge: 'curve' },
  { id: 26, name: 'x448', label: 'X448', signs: false, judge: 'curve' },
  { id: 27, name: 'ed25519', label: 'Ed25519', signs: true, judge: 'curve', minHashBits: 256 },
  { id: 28, name: 'ed448', label: 'Ed448', signs: true, judge: 'curve', minHashBits: 512 },
] as const);

const RESERVED_PUBLIC_KEY_IDS = new Set([21, 23, 24]);
const isPrivateId = (id: number): boolean => id >= 100 && id <= 110;

export function hashById(id: number | null | undefined): HashAlgorithm | undefined {
  return HASH_ALGORITHMS.find((h) => h.id === id);
}

export function publicKeyById(id: number | null | undefined): PublicKeyAlgorithm | undefined {
  return PUBLIC_KEY_ALGORITHMS.find((a) => a.id === id);
}

/** The policy's name of a hash id ('sha256', 'ripemd160'), or 'hash-<id>' when the registry has none. */
export function hashName(id: number | null | undefined): string {
  if (id === null || id === undefined) return 'unknown';
  return hashById(id)?.name ?? `hash-${id}`;
}

/** openpgp.js's name of a public-key id ('rsaEncryptSign', 'eddsaLegacy'), or 'publickey-<id>'. */
export function publicKeyName(id: number | null | undefined): string {
  if (id === null || id === undefined) return 'unknown';
  return publicKeyById(id)?.name ?? `publickey-${id}`;
}

function unassigned(kind: string, id: number, reserved: Set<number>): string {
  if (reserved.has(id)) return line('reason-policy-id-reserved', { kind, id });
  if (isPrivateId(id)) return line('reason-policy-id-private', { kind, id });
  return line('reason-policy-id-unassigned', { kind, id });
}

/** How to fix a refused or unknown hash, in the user's own tools (wording: templates/fix-hash-algorithm.txt). */
// (No tilde or brackets: replies are read on EBCDIC terminals, see NOTES.md.)
export const HASH_FIX = line('fix-hash-algorithm', {});
/** How to fix a refused key. */
export const KEY_FIX = line('fix-public-key-algorithm', {});
/** How to fix an old or unknown signature format. */
export const VERSION_FIX = line('fix-signature-version', {});

export type AlgorithmJudgement =
  | { use: 'accepted' }
  | { use: 'refused' | 'unsupported'; code: PolicyCode; reason: string };

/** A hash id on a new signature: accepted, refused by the policy (weak), or not one the registry knows. */
export function judgeHashId(policy: CryptoPolicy, id: number): AlgorithmJudgement {
  const h = hashById(id);
  if (!h) return { use: 'unsupported', code: 'POLICY_HASH_UNKNOWN', reason: unassigned('hash algorithm', id, RESERVED_HASH_IDS) };
  if (isRejectedHash(policy, h.name)) return { use: 'refused', code: 'POLICY_HASH_REFUSED', reason: line('reason-policy-hash-refused', { hash: h.label }) };
  return { use: 'accepted' };
}

/**
 * The public-key algorithm id of a signature. Key size and curve need the
 * key itself (judgeKeyAlgorithm); this is what the id alone settles.
 */
export function judgePublicKeyId(id: number): AlgorithmJudgement {
  const a = publicKeyById(id);
  if (!a) return { use: 'unsupported', code: 'POLICY_PK_UNKNOWN', reason: unassigned('public-key algorithm', id, RESERVED_PUBLIC_KEY_IDS) };
  // Refused first: an ElGamal signature is refused like the ElGamal key itself (the fix is a new key).
  if (a.judge === 'refused') return { use: 'refused', code: 'POLICY_PK_REFUSED', reason: line('reason-policy-pk-refused', { algorithm: a.label }) };
  if (!a.signs) return { use: 'unsupported', code: 'POLICY_PK_CANNOT_SIGN', reason: line('reason-policy-pk-cannot-sign', { algorithm: a.label, id }) };
  return { use: 'accepted' };
}

export interface SignatureAlgorithms {
  /** The signature packet's version octet. */
  version: number;
  hashId: number;
  publicKeyId: number;
}

export type SignatureJudgement =
  | { ok: true }
  | {
    ok: false;
    /** 'weak': refused by the policy; 'malformed': an id or version we cannot check at all. */
    verdict: 'weak' | 'malformed';
    code: PolicyCode;
    rule: 'signature-version' | 'hash-algorithm' | 'public-key-algorithm';
    reason: string;
    fix: string;
  };

/**
 * What a signature packet's own octets settle before any verification:
 * version (3 is refused, only 4 and 6 are read), the public-key id and the
 * hash id, and a hash long enough for the algorithm. Used on the raw bytes,
 * so a refused signature is reported as refused even where openpgp.js
 * would throw or skip the packet.
 */
export function judgeSignatureAlgorithms(policy: CryptoPolicy, s: SignatureAlgorithms): SignatureJudgement {
  if (s.version === 3) {
    return {
      ok: false, verdict: 'weak', code: 'POLICY_SIG_VERSION_REFUSED', rule: 'signature-version', fix: VERSION_FIX,
      reason: line('reason-policy-sig-version-refused', {}),
    };
  }
  if (s.version !== 4 && s.version !== 6) {
    const what = s.version === 5 ? line('reason-policy-sig-version-v5', {}) : line('reason-policy-sig-version-unknown', { version: s.version });
    return { ok: false, verdict: 'malformed', code: 'POLICY_SIG_VERSION_UNKNOWN', rule: 'signature-version', reason: what, fix: VERSION_FIX };
  }
  const pk = judgePublicKeyId(s.publicKeyId);
  if (pk.use !== 'accepted') {
    return { ok: false, verdict: pk.use === 'refused' ? 'weak' : 'malformed', code: pk.code, rule: 'public-key-algorithm', reason: pk.reason, fix: KEY_FIX };
  }
  const h = judgeHashId(policy, s.hashId);
  if (h.use !== 'accepted') {
    return { ok: false, verdict: h.use === 'refused' ? 'weak' : 'malformed', code: h.code, rule: 'hash-algorithm', reason: h.reason, fix: HASH_FIX };
  }
  const alg = publicKeyById(s.publicKeyId)!;
  const hash = hashById(s.hashId)!;
  if (alg.minHashBits !== undefined && hash.bits < alg.minHashBits) {
    return {
      ok: false, verdict: 'weak', code: 'POLICY_HASH_TOO_SHORT', rule: 'hash-algorithm', fix: HASH_FIX,
      reason: line('reason-policy-hash-too-short', { algorithm: alg.label, minBits: alg.minHashBits, hash: hash.label }),
    };
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------
// openpgp.js configuration, set here and nowhere else. Each is merged with
// openpgp.config once (per policy) and shared: openpgp.js only reads it.

/**
 * The openpgp.js configuration for READING keys and INSPECTING old data
 * (key reports, audit, certifications, the collection). Deliberately
 * permissive: the collection holds DSA-1024 keys and SHA-1 certifications,
 * and the reports must say precisely what is wrong with each instead of
 * "invalid". Every acceptance decision is then made from this module
 * (judgeKeyAlgorithm, isRejectedHash). Never use it to accept a new
 * signature on a command: that is messageVerifyConfig's job.
 */
export function verifyConfig(): openpgp.Config {
  permissive ??= Object.freeze({
    ...openpgp.config,
    rejectHashAlgorithms: new Set<openpgp.enums.hash>(),
    rejectMessageHashAlgorithms: new Set<openpgp.enums.hash>(),
    rejectPublicKeyAlgorithms: new Set<openpgp.enums.publicKey>(),
    rejectCurves: new Set<openpgp.enums.curve>(),
    minRSABits: 512,
  });
  return permissive;
}
let permissive: openpgp.Config | undefined;

/**
 * The openpgp.js configuration for VERIFYING a message signature (mail
 * commands, digests). openpgp.js's own reject lists are kept at least as
 * strict as the policy, so that even a path that forgot to ask the policy
 * cannot accept what it refuses:
 * - message signatures: every hash the policy refuses;
 * - the key's own self-signatures and bindings (which openpgp.js checks to
 *   know the key was valid when it signed): the refused hashes except SHA-1,
 *   because keys in daily use still carry SHA-1 self-signatures from before
 *   2019 and the policy refuses SHA-1 on NEW signatures only (audit flags
 *   the old ones);
 * - every public-key algorithm whose id the policy does not accept, every
 *   curve it does not list, RSA below its minimum.
 * The verifier judges each signature against the policy before calling
 * openpgp.js, so these lists are a second wall, not the reason given.
 */
export function messageVerifyConfig(policy: CryptoPolicy = DEFAULT_CRYPTO_POLICY): openpgp.Config {
  const cached = strict.get(policy);
  if (cached) return cached;
  const refused = HASH_ALGORITHMS.filter((h) => isRejectedHash(policy, h.name)).map((h) => h.id) as openpgp.enums.hash[];
  const knownToLibrary = new Set(Object.values(openpgp.enums.publicKey) as number[]);
  const badKeys = [...knownToLibrary].filter((id) => judgePublicKeyId(id).use === 'refused') as openpgp.enums.publicKey[];
  const allowed = new Set(policy.allowedCurves);
  const badCurves = [...new Set(Object.values(openpgp.enums.curve))].filter((c) => !allowed.has(c));
  const cfg: openpgp.Config = Object.freeze({
    ...openpgp.config,
    rejectHashAlgorithms: new Set(refused.filter((id) => id !== openpgp.enums.hash.sha1)),
    rejectMessageHashAlgorithms: new Set(refused),
    rejectPublicKeyAlgorithms: new Set(badKeys),
    rejectCurves: new Set(badCurves as openpgp.enums.curve[]),
    minRSABits: policy.minRsaBits,
  });
  strict.set(policy, cfg);
  return cfg;
}
// Keyed by the policy object: a policy is built once from the config and not changed afterwards.
const strict = new WeakMap<CryptoPolicy, openpgp.Config>();

/** The openpgp.js configuration for SIGNING (the bot's own replies). */
export function signConfig(): openpgp.PartialConfig {
  return { preferredHashAlgorithm: openpgp.enums.hash.sha512 };
}

export type KeyStrength =
  | { ok: true; warning?: string; algorithm: string; bits?: number; curve?: string }
  | { ok: false; code: PolicyCode; reason: string; algorithm: string; bits?: number; curve?: string };

/**
 * Judge a key's public-key algorithm and size against the policy.
 * DSA and ElGamal are refused outright (found only in old collection data,
 * where `audit` reports them instead of dropping them).
 */
export function judgeKeyAlgorithm(
  policy: CryptoPolicy,
  keyInfo: { algorithm: string; bits?: number; curve?: string; forgeable?: string },
): KeyStrength {
  const { forgeable, ...info } = keyInfo;
  const { bits, curve } = info;
  // Before size and curve: no size makes up for parameters anyone can sign for (src/policy/forgeable.ts).
  if (forgeable) return { ok: false, code: 'POLICY_KEY_FORGEABLE', reason: line('reason-policy-key-forgeable', { what: forgeable }), ...info };
  // By the registry above, so a key report and a mail verdict judge the same algorithm the same way.
  const entry = PUBLIC_KEY_ALGORITHMS.find((a) => a.name === info.algorithm);
  switch (entry?.judge) {
    case 'rsa': {
      const b = bits ?? 0;
      if (b < policy.minRsaBits) return { ok: false, code: 'POLICY_RSA_TOO_SHORT', reason: line('reason-policy-rsa-too-short', { bits: b, min: policy.minRsaBits }), ...info };
      if (b < policy.warnRsaBits) return { ok: true, warning: line('warning-policy-rsa-short', { bits: b, recommended: policy.warnRsaBits }), ...info };
      return { ok: true, ...info };
    }
    case 'curve':
      if (curve && !policy.allowedCurves.includes(curve)) return { ok: false, code: 'POLICY_CURVE_REFUSED', reason: line('reason-policy-curve-refused', { curve }), ...info };
      return { ok: true, ...info };
    case 'refused':
      return { ok: false, code: 'POLICY_PK_REFUSED', reason: line('reason-policy-pk-refused', { algorithm: entry.label }), ...info };
    default:
      return { ok: false, code: 'POLICY_PK_UNKNOWN', reason: line('reason-policy-pk-unknown-name', { algorithm: info.algorithm }), ...info };
  }
}
