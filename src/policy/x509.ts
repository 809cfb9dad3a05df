/**
 * The X.509 half of the crypto policy: which certificate signature
 * algorithms, key types, RSA sizes and curves a CA certificate may use. The
 * verifier (src/pki/) reports the facts (signature algorithm OID, the PSS
 * hash OID, node:crypto's key type and details); this module judges them
 * with the same configured policy as OpenPGP: its refused hashes, its RSA
 * minimum and warning size, its curves, and DSA refused like a DSA key.
 */
import type { PolicyCode } from './codes.js';
import { HASH_ALGORITHMS } from './openpgp.js';
import { isRejectedHash, type CryptoPolicy } from './settings.js';
import { line } from '../templates.js';
import { forgeableEdPoint, forgeableRsaKey } from './forgeable.js';

export interface PolicyFinding {
  code: PolicyCode;
  text: string;
}

/** Hash OIDs (RFC 5754, RFC 3279) by the policy's hash names. */
const HASH_OIDS: Record<string, string> = {
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  // SHA-3 (RFC 8702): SHA3-384 has no OpenPGP id, so the policy does not know it (refused as unknown).
  '2.16.840.1.101.3.4.2.8': 'sha3_256',
  '2.16.840.1.101.3.4.2.9': 'sha3_384',
  '2.16.840.1.101.3.4.2.10': 'sha3_512',
};

type CertSigner = 'rsa' | 'rsa-pss' | 'dsa' | 'ecdsa' | 'eddsa';

/**
 * Certificate signature algorithm OIDs: their names and the hash each
 * fixes. `hash: null` for RSASSA-PSS (the hash is in its parameters) and
 * for EdDSA (no separate hash). MD2 is not in the OpenPGP registry: always refused.
 */
export const CERT_SIGNATURE_ALGORITHMS: Readonly<Record<string, { name: string; hash: string | null; signer: CertSigner }>> = Object.freeze({
  '1.2.840.113549.1.1.2': { name: 'md2WithRSAEncryption', hash: 'md2', signer: 'rsa' },
  '1.2.840.113549.1.1.4': { name: 'md5WithRSAEncryption', hash: 'md5', signer: 'rsa' },
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', hash: 'sha1', signer: 'rsa' },
  '1.3.14.3.2.29': { name: 'sha1WithRSA (OIW)', hash: 'sha1', signer: 'rsa' },
  '1.2.840.10040.4.3': { name: 'dsa-with-sha1', hash: 'sha1', signer: 'dsa' },
  '2.16.840.1.101.3.4.3.1': { name: 'dsa-with-SHA224', hash: 'sha224', signer: 'dsa' },
  '2.16.840.1.101.3.4.3.2': { name: 'dsa-with-SHA256', hash: 'sha256', signer: 'dsa' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', hash: 'sha1', signer: 'ecdsa' },
  '1.2.840.113549.1.1.14': { name: 'sha224WithRSAEncryption', hash: 'sha224', signer: 'rsa' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', hash: 'sha256', signer: 'rsa' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', hash: 'sha384', signer: 'rsa' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', hash: 'sha512', signer: 'rsa' },
  '1.2.840.113549.1.1.10': { name: 'RSASSA-PSS', hash: null, signer: 'rsa-pss' },
  '1.2.840.10045.4.3.1': { name: 'ecdsa-with-SHA224', hash: 'sha224', signer: 'ecdsa' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', hash: 'sha256', signer: 'ecdsa' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', hash: 'sha384', signer: 'ecdsa' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', hash: 'sha512', signer: 'ecdsa' },
  // SHA-3 signatures (NIST CSOR, RFC 8702's hash OIDs).
  '2.16.840.1.101.3.4.3.14': { name: 'id-rsassa-pkcs1-v1_5-with-sha3-256', hash: 'sha3_256', signer: 'rsa' },
  '2.16.840.1.101.3.4.3.15': { name: 'id-rsassa-pkcs1-v1_5-with-sha3-384', hash: 'sha3_384', signer: 'rsa' },
  '2.16.840.1.101.3.4.3.16': { name: 'id-rsassa-pkcs1-v1_5-with-sha3-512', hash: 'sha3_512', signer: 'rsa' },
  '2.16.840.1.101.3.4.3.10': { name: 'id-ecdsa-with-sha3-256', hash: 'sha3_256', signer: 'ecdsa' },
  '2.16.840.1.101.3.4.3.11': { name: 'id-ecdsa-with-sha3-384', hash: 'sha3_384', signer: 'ecdsa' },
  '2.16.840.1.101.3.4.3.12': { name: 'id-ecdsa-with-sha3-512', hash: 'sha3_512', signer: 'ecdsa' },
  '1.3.101.112': { name: 'Ed25519', hash: null, signer: 'eddsa' },
  '1.3.101.113': { name: 'Ed448', hash: null, signer: 'eddsa' },
});

/** A hash name the policy accepts (it is in the registry and not refused). */
function hashAccepted(policy: CryptoPolicy, name: string): boolean {
  return HASH_ALGORITHMS.some((h) => h.name === name) && !isRejectedHash(policy, name);
}

function hashLabel(name: string): string {
  return HASH_ALGORITHMS.find((h) => h.name === name)?.label ?? name.toUpperCase();
}

/** How a refused signature hash is worded (MD5 and SHA-1 as always; others by the policy). */
function refusedHashText(algName: string, hash: string): string {
  return ['md2', 'md5', 'sha1'].includes(hash)
    ? line('reason-x509-hash-weak', { algorithm: algName })
    : line('reason-x509-hash-refused', { algorithm: algName, hash: hashLabel(hash) });
}

/**
 * The certificate's signature algorithm: its display name and, when the
 * policy refuses it, why (hash first, as the OpenPGP judgement does, then
 * the signing algorithm).
 */
export function judgeCertSignatureAlgorithm(
  policy: CryptoPolicy,
  oid: string,
  pssHashOid: string | null,
): { name: string; problem: PolicyFinding | null } {
  const alg = CERT_SIGNATURE_ALGORITHMS[oid];
  if (!alg) return { name: oid, problem: { code: 'X509_SIG_ALG_UNKNOWN', text: line('reason-x509-sig-alg-unknown', { oid }) } };
  if (alg.hash !== null && !hashAccepted(policy, alg.hash)) {
    return { name: alg.name, problem: { code: 'POLICY_HASH_REFUSED', text: refusedHashText(alg.name, alg.hash) } };
  }
  if (alg.signer === 'dsa') return { name: alg.name, problem: { code: 'POLICY_PK_REFUSED', text: line('reason-x509-dsa', { algorithm: alg.name }) } };
  if (alg.signer === 'rsa-pss' && pssHashOid !== null) {
    const h = HASH_OIDS[pssHashOid];
    if (!h) return { name: alg.name, problem: { code: 'POLICY_HASH_UNKNOWN', text: line('reason-x509-pss-hash', { hash: pssHashOid }) } };
    if (!hashAccepted(policy, h)) return { name: alg.name, problem: { code: 'POLICY_HASH_REFUSED', text: line('reason-x509-pss-hash', { hash: hashLabel(h) }) } };
    return { name: `RSASSA-PSS with ${h}`, problem: null };
  }
  return { name: alg.name, problem: null };
}

/** node:crypto's EC curve names in the policy's (openpgp.js) vocabulary. */
const CURVE_NAMES: Record<string, string> = {
  'prime256v1': 'nistP256', 'P-256': 'nistP256',
  'secp384r1': 'nistP384', 'P-384': 'nistP384',
  'secp521r1': 'nistP521', 'P-521': 'nistP521',
};

/** The X.509 names of the EC curves the policy accepts, for the reason text. */
function acceptedEcCurves(policy: CryptoPolicy): string {
  const named = Object.entries(CURVE_NAMES).filter(([x, p]) => !x.startsWith('P-') && policy.allowedCurves.includes(p)).map(([x]) => x);
  const brainpool = policy.allowedCurves.filter((c) => c.startsWith('brainpool'));
  return [...named, ...brainpool].join(', ') || 'none';
}

export interface CertKeyJudgement {
  bits?: number;
  curve?: string;
  problems: PolicyFinding[];
  warnings: PolicyFinding[];
}

/**
 * The certificate's public key (node:crypto's asymmetricKeyType and details;
 * `modulus`: an RSA key's n; `point`: an EdDSA key's octets) against the policy.
 */
export function judgeCertKey(
  policy: CryptoPolicy,
  type: string,
  details: { modulusLength?: number; publicExponent?: bigint; modulus?: bigint; namedCurve?: string; point?: Uint8Array },
): CertKeyJudgement {
  const out: CertKeyJudgement = { problems: [], warnings: [] };
  // Before size and curve, as for OpenPGP keys: no size makes up for a key
  // anyone can sign for (src/policy/forgeable.ts). Its self-signature proves
  // nothing, and every certificate "issued" under it would verify.
  const forgeable = (type === 'rsa' || type === 'rsa-pss') && details.publicExponent !== undefined ? forgeableRsaKey(details.publicExponent, details.modulus)
    : (type === 'ed25519' || type === 'ed448') && details.point ? forgeableEdPoint(details.point) : null;
  if (forgeable) {
    if (details.modulusLength !== undefined) out.bits = details.modulusLength;
    out.problems.push({ code: 'POLICY_KEY_FORGEABLE', text: line('reason-policy-key-forgeable', { what: forgeable }) });
    return out;
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    out.bits = bits;
    if (bits < policy.minRsaBits) out.problems.push({ code: 'POLICY_RSA_TOO_SHORT', text: line('reason-x509-rsa-too-short', { bits, min: policy.minRsaBits }) });
    else if (bits < policy.warnRsaBits) out.warnings.push({ code: 'POLICY_RSA_BELOW_RECOMMENDED', text: line('warning-x509-rsa-short', { bits, recommended: policy.warnRsaBits }) });
  } else if (type === 'ec') {
    out.curve = details.namedCurve ?? 'unknown';
    if (!policy.allowedCurves.includes(CURVE_NAMES[out.curve] ?? out.curve)) {
      out.problems.push({ code: 'POLICY_CURVE_REFUSED', text: line('reason-x509-curve-refused', { curve: out.curve, accepted: acceptedEcCurves(policy) }) });
    }
  } else if (type === 'ed25519' || type === 'ed448') {
    out.curve = type;
    if (!policy.allowedCurves.includes(type)) out.problems.push({ code: 'POLICY_CURVE_REFUSED', text: line('reason-x509-key-type-refused', { type }) });
  } else {
    out.problems.push({ code: type === 'dsa' ? 'POLICY_PK_REFUSED' : 'POLICY_PK_UNKNOWN', text: line('reason-x509-key-type-unknown', { type }) });
  }
  return out;
}
