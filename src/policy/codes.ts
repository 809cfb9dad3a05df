/**
 * The policy's verdict codes: a fixed catalogue. Every refusal or warning the
 * policy module gives carries one, so audit findings, replies and check-mail
 * branch on the code and never on the wording (which may change, and once
 * sorted a refused PSS hash under "not a CA" because its reason named an OID
 * instead of "SHA-1").
 */
export const POLICY_CODES = {
  // OpenPGP signature packets (judged from their own octets)
  POLICY_SIG_VERSION_REFUSED: 'a signature version the policy refuses (v3)',
  POLICY_SIG_VERSION_UNKNOWN: 'a signature version this bot does not read (v5, unknown)',
  POLICY_HASH_REFUSED: 'a hash algorithm the policy refuses on new signatures',
  POLICY_HASH_UNKNOWN: 'a hash id that is reserved, private or unassigned',
  POLICY_HASH_TOO_SHORT: 'a hash shorter than the signature algorithm requires',
  POLICY_PK_REFUSED: 'a public-key algorithm the policy refuses (DSA, ElGamal)',
  POLICY_PK_UNKNOWN: 'a public-key id that is reserved, private or unassigned',
  POLICY_PK_CANNOT_SIGN: 'an encryption-only public-key algorithm used for a signature',
  // keys
  POLICY_RSA_TOO_SHORT: 'an RSA key below the policy minimum',
  POLICY_RSA_BELOW_RECOMMENDED: 'an RSA key below the recommended size (a warning)',
  POLICY_CURVE_REFUSED: 'a curve the policy does not list',
  POLICY_KEY_FORGEABLE: 'a public key anyone can make signatures for (an RSA exponent below 3, even, over 64 bits or 1 modulo lambda(n); an Ed25519 or Ed448 point of small order)',
  // time
  POLICY_TIME_FUTURE: 'dated further in the future than the allowed clock skew',
  POLICY_TIME_TOO_OLD: 'older than the signature age allowed for state-changing commands',
  // X.509 certificates
  X509_UNREADABLE: 'not a readable X.509 certificate (or over the size limit)',
  X509_SIG_ALG_UNKNOWN: 'a certificate signature algorithm the policy does not know',
  X509_NOT_V3: 'not an X.509 v3 certificate',
  X509_NOT_CA: 'basicConstraints missing or CA:FALSE',
  X509_NO_KEY_CERT_SIGN: 'keyUsage missing or without keyCertSign',
  X509_NOT_YET_VALID: 'before the certificate notBefore',
  X509_EXPIRED: 'after the certificate notAfter',
  X509_SELF_SIGNATURE_BAD: 'self-signed, but the signature does not verify with its own key',
} as const;

export type PolicyCode = keyof typeof POLICY_CODES;

/** Codes that say an algorithm, size or curve is too weak (audit's PKI_WEAK, the mail verdict 'weak'). */
const ALGORITHM_CODES: ReadonlySet<PolicyCode> = new Set<PolicyCode>([
  'POLICY_SIG_VERSION_REFUSED', 'POLICY_HASH_REFUSED', 'POLICY_HASH_UNKNOWN', 'POLICY_HASH_TOO_SHORT',
  'POLICY_PK_REFUSED', 'POLICY_PK_UNKNOWN', 'POLICY_PK_CANNOT_SIGN', 'POLICY_RSA_TOO_SHORT', 'POLICY_CURVE_REFUSED',
  'POLICY_KEY_FORGEABLE', 'X509_SIG_ALG_UNKNOWN',
]);

export function isAlgorithmCode(code: PolicyCode): boolean {
  return ALGORITHM_CODES.has(code);
}

/** Codes about a validity period or a signature date. */
export function isTimeCode(code: PolicyCode): boolean {
  return code === 'X509_EXPIRED' || code === 'X509_NOT_YET_VALID' || code === 'POLICY_TIME_FUTURE' || code === 'POLICY_TIME_TOO_OLD';
}
