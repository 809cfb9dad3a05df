/**
 * PKI certificate checks (SUBMIT CERT and audit):
 *
 * - checkCaCert: is this an acceptable X.509 v3 CA certificate
 *   (basicConstraints CA:TRUE, keyUsage keyCertSign, in its validity period,
 *   no MD5/SHA-1 signature, RSA >= policy minimum or EC P-256+ or Ed25519/Ed448)?
 * - chainsTo: is it issued (and signed) by a certificate already in the collection?
 * - verifyDetachedSignature: does an OpenPGP detached signature by a
 *   collection key cover these exact bytes? The signature packet is judged
 *   by the policy from its own octets first (version, public-key and hash
 *   ids: src/policy/openpgp.ts judgeSignatureAlgorithms, as the mail verifier does), so
 *   a SHA-1, MD5, RIPEMD-160 or v3 signature gets the same verdict, words
 *   and fix as a command signed that way, before openpgp.js sees it.
 * - checkSubmittedCert: the SUBMIT CERT rule, all of the above together.
 *
 * Signatures are verified by node:crypto (OpenSSL) and openpgp.js; only the
 * extension fields node:crypto does not expose come from ./extensions.ts.
 */
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import * as openpgp from 'openpgp';
import { DEFAULT_LIMITS, LIMIT_ERRORS, type Limits } from '../limits.js';
import {
  DEFAULT_CRYPTO_POLICY, hashName, isFutureDated, judgeCertKey, judgeCertSignatureAlgorithm, judgeSignatureAlgorithms, latestAcceptedDate, verifyConfig,
  type CryptoPolicy, type PolicyCode,
} from '../policy/index.js';
import { readSignaturePackets } from '../pgp/sigpacket.js';
import { fingerprintOf, inspectKey, keyIdOf, toKeyring, type KeyLookup } from '../pgp/inspect.js';
import { readExtensions, type CertExtensions } from './extensions.js';
import { bigFromBytes } from '../policy/forgeable.js';

export interface CaCheck {
  ok: boolean;
  /** Why it is refused (empty when ok). */
  reasons: string[];
  /** The policy's code of each reason, in the same order: audit and replies branch on these, never on the words. */
  codes: PolicyCode[];
  warnings: string[];
  subject: string;
  issuer: string;
  /** SHA-256 of the DER certificate, lowercase hex (the usual certificate fingerprint). */
  sha256: string;
  /** SHA-256 of the bytes as submitted (what a detached signature covers). */
  fileSha256: string;
  serialNumber: string;
  notBefore: Date | null;
  notAfter: Date | null;
  keyAlg: string;
  bits?: number;
  curve?: string;
  signatureAlgorithm: string;
  selfSigned: boolean;
}

/** Parse PEM (exactly one CERTIFICATE block) or DER. @throws Error */
export function parseCertificate(bytes: Uint8Array): X509Certificate {
  const buf = Buffer.from(bytes);
  const text = buf.toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (blocks > 1) throw new Error(`the file holds ${blocks} certificates; submit one certificate per name`);
  return new X509Certificate(buf);
}

function one(s: string): string {
  return s.replace(/\n/g, ', ');
}

/**
 * Judge a certificate against the CA policy at `now`. Never throws: an
 * unreadable certificate is a refusal with a reason.
 */
export function checkCaCert(
  pemBytes: Uint8Array,
  policy: CryptoPolicy = DEFAULT_CRYPTO_POLICY,
  now: Date = new Date(),
  limits: Limits = DEFAULT_LIMITS,
): CaCheck {
  const reasons: string[] = [];
  const codes: PolicyCode[] = [];
  const warnings: string[] = [];
  const refuse = (code: PolicyCode, text: string): void => {
    codes.push(code);
    reasons.push(text);
  };
  const fileSha256 = createHash('sha256').update(pemBytes).digest('hex');
  const empty: CaCheck = {
    ok: false, reasons, codes, warnings, subject: '', issuer: '', sha256: '', fileSha256, serialNumber: '',
    notBefore: null, notAfter: null, keyAlg: 'unknown', signatureAlgorithm: 'unknown', selfSigned: false,
  };
  if (pemBytes.length > limits.maxCertBytes) {
    refuse('X509_UNREADABLE', `${LIMIT_ERRORS.LIMIT_CERT_SIZE} (limit ${limits.maxCertBytes}, got ${pemBytes.length})`);
    return empty;
  }
  let x: X509Certificate;
  let ext: CertExtensions;
  try {
    x = parseCertificate(pemBytes);
    ext = readExtensions(x.raw);
  } catch (err) {
    refuse('X509_UNREADABLE', `not a readable X.509 certificate: ${(err as Error).message}`);
    return empty;
  }
  const r: CaCheck = {
    ...empty,
    subject: one(x.subject),
    issuer: one(x.issuer),
    sha256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    serialNumber: x.serialNumber,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
  };

  if (ext.version !== 'v3') refuse('X509_NOT_V3', `it is an X.509 ${ext.version} certificate; a CA certificate must be v3`);
  if (!ext.basicConstraints) refuse('X509_NOT_CA', 'it has no basicConstraints extension; a CA certificate needs basicConstraints CA:TRUE');
  else if (!ext.basicConstraints.ca) refuse('X509_NOT_CA', 'basicConstraints says CA:FALSE: this is not a CA certificate');
  if (!ext.keyUsage) refuse('X509_NO_KEY_CERT_SIGN', 'it has no keyUsage extension; a CA certificate needs keyUsage keyCertSign');
  else if (!ext.keyUsage.keyCertSign) refuse('X509_NO_KEY_CERT_SIGN', 'keyUsage does not include keyCertSign: it may not sign certificates');
  if (ext.keyUsage && !ext.keyUsage.critical) warnings.push('keyUsage is not marked critical (RFC 5280 says it should be for a CA)');

  // The same clock-skew allowance as every other date the bot judges (src/policy/time.ts):
  // a CA made a moment ago on a machine whose clock runs a little ahead is valid.
  if (r.notBefore && isFutureDated(policy, r.notBefore, now)) refuse('X509_NOT_YET_VALID', `it is not valid before ${r.notBefore.toISOString()}`);
  if (r.notAfter && now > r.notAfter) refuse('X509_EXPIRED', `it expired on ${r.notAfter.toISOString()}`);

  // The facts (OIDs, key type and details) go to the policy; it alone decides.
  const sigAlg = judgeCertSignatureAlgorithm(policy, ext.signatureAlgorithmOid, ext.pssHashOid);
  r.signatureAlgorithm = sigAlg.name;
  if (sigAlg.problem) refuse(sigAlg.problem.code, sigAlg.problem.text);

  // The key is read with care (found by an attack review): node cannot
  // read some (an unknown algorithm, a point not on the curve: the getter
  // throws), and reading the details or the JWK of a P-256 key that is the
  // point at infinity aborts the process (a native assertion), while its
  // DER export refuses it with an error. Unreadable: refused, nothing more.
  let pk: KeyObject;
  try {
    pk = x.publicKey;
    pk.export({ type: 'spki', format: 'der' });
  } catch (err) {
    refuse('X509_UNREADABLE', `its public key cannot be read: ${(err as Error).message}`);
    return r;
  }
  r.keyAlg = pk.asymmetricKeyType ?? 'unknown';
  const jwk = r.keyAlg === 'rsa' || r.keyAlg === 'ed25519' || r.keyAlg === 'ed448' ? pk.export({ format: 'jwk' }) : {};
  const modulus = jwk.n ? bigFromBytes(Buffer.from(jwk.n, 'base64url')) : undefined;
  const point = jwk.x && jwk.kty === 'OKP' ? Buffer.from(jwk.x, 'base64url') : undefined;
  const keyJudged = judgeCertKey(policy, r.keyAlg, { ...pk.asymmetricKeyDetails, modulus, point });
  if (keyJudged.bits !== undefined) r.bits = keyJudged.bits;
  if (keyJudged.curve !== undefined) r.curve = keyJudged.curve;
  keyJudged.problems.forEach((p) => refuse(p.code, p.text));
  warnings.push(...keyJudged.warnings.map((w) => w.text));

  r.selfSigned = x.subject === x.issuer;
  if (r.selfSigned) {
    let sigOk: boolean;
    try {
      sigOk = x.verify(x.publicKey);
    } catch {
      sigOk = false;
    }
    if (!sigOk) refuse('X509_SELF_SIGNATURE_BAD', 'it claims to be self-signed but its signature does not verify with its own key');
  }
  r.ok = reasons.length === 0;
  return r;
}

export interface CollectionCert {
  name: string;
  pem: Uint8Array;
}

/**
 * The collection certificate that issued and signed this one, or null.
 * The issuer must be a CA (OpenSSL's checkIssued also refuses an issuer
 * whose keyUsage lacks keyCertSign) and valid at `now`.
 */
export function chainsTo(
  pem: Uint8Array,
  collectionCerts: readonly CollectionCert[],
  now: Date = new Date(),
): { name: string; pem: Uint8Array; subject: string } | null {
  let leaf: X509Certificate;
  try {
    leaf = parseCertificate(pem);
  } catch {
    return null;
  }
  for (const c of collectionCerts) {
    let ca: X509Certificate;
    try {
      ca = parseCertificate(c.pem);
    } catch {
      continue;
    }
    if (ca.raw.equals(leaf.raw)) continue; // a certificate does not vouch for itself
    if (!ca.ca) continue;
    if (now < new Date(ca.validFrom) || now > new Date(ca.validTo)) continue;
    try {
      if (leaf.checkIssued(ca) && leaf.verify(ca.publicKey)) return { name: c.name, pem: c.pem, subject: one(ca.subject) };
    } catch {
      continue;
    }
  }
  return null;
}

export interface DetachedSignatureCheck {
  /** Verified, by a collection key, and acceptable to the policy. */
  ok: boolean;
  /** Cryptographically verified by a collection key (whatever the policy says). */
  valid: boolean;
  /** UPPER fingerprint of the signer's primary key, when found in the collection. */
  signer: string | null;
  /** Issuer key id named by the signature, 16 lowercase hex. */
  signerKeyId: string | null;
  hashAlgorithm: string | null;
  created: Date | null;
  signatureType: 'binary' | 'text' | 'other' | null;
  /** Policy objections to an otherwise valid signature. */
  problems: string[];
  reason: string;
  /** How to fix a signature the policy refuses by its packet (hash, algorithm, version); null: the caller's generic fix. */
  fix: string | null;
}

/** The signature's binary packets: armour removed when it is armoured; null when the armour cannot be read. */
async function signatureOctets(sig: string | Uint8Array): Promise<Uint8Array | null> {
  if (typeof sig !== 'string') return sig;
  try {
    return (await openpgp.unarmor(sig)).data as Uint8Array;
  } catch {
    return null; // openpgp.readSignature reports the damage
  }
}

/**
 * The policy's verdict on the signature packets' own octets, worded as the
 * mail verifier words it (src/mail/verify-mail.ts): null when the one packet is
 * acceptable, or when nothing can be read (the reader below then reports it).
 */
function refusedByOctets(octets: Uint8Array, policy: CryptoPolicy): { reason: string; fix: string; keyId: string | null; created: Date | null } | null {
  const packets = readSignaturePackets(octets);
  if (packets.length > 1) return { reason: `the signature block holds ${packets.length} signatures; send exactly one`, fix: '', keyId: null, created: null };
  const facts = packets[0];
  if (!facts) return null;
  const j = judgeSignatureAlgorithms(policy, facts);
  if (j.ok) return null;
  const made = facts.created ? ` made ${facts.created.toISOString()}` : '';
  const by = facts.issuerKeyId ? ` by key ${facts.issuerKeyId}` : '';
  return { reason: `the signature${made}${by} was not accepted: ${j.reason}`, fix: j.fix, keyId: facts.issuerKeyId, created: facts.created };
}

/**
 * Verify an armoured detached OpenPGP signature over the exact bytes
 * (binary-document signatures, as the collection has them; a text-mode
 * signature is accepted when it verifies over the same bytes).
 */
export async function verifyDetachedSignature(
  bytes: Uint8Array,
  armoredSig: string | Uint8Array,
  collectionKeys: KeyLookup,
  opts: { policy?: CryptoPolicy; now?: Date } = {},
): Promise<DetachedSignatureCheck> {
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = opts.now ?? new Date();
  // Read and verified permissively, only to learn whether the signature is
  // cryptographically valid (audit tells a weak signature from a bad one);
  // acceptance (`ok`) is decided by the policy alone: the packet's octets
  // (refusedByOctets) and the signing key (inspectKey).
  const cfg = verifyConfig();
  const res: DetachedSignatureCheck = {
    ok: false, valid: false, signer: null, signerKeyId: null, hashAlgorithm: null, created: null, signatureType: null, problems: [], reason: '', fix: null,
  };
  const octets = await signatureOctets(armoredSig);
  let refusal = octets ? refusedByOctets(octets, policy) : null;
  // A refused packet is refused in the policy's words, valid or not (v3
  // and unknown ids cannot even be verified: the policy's words then too).
  const done = (): DetachedSignatureCheck => {
    if (!refusal) return res;
    res.ok = false;
    res.reason = refusal.reason;
    res.fix = refusal.fix || null;
    res.signerKeyId ??= refusal.keyId?.toLowerCase() ?? null;
    res.created ??= refusal.created;
    return res;
  };
  let sig: openpgp.Signature;
  try {
    sig = typeof armoredSig === 'string'
      ? await openpgp.readSignature({ armoredSignature: armoredSig, config: cfg })
      : await openpgp.readSignature({ binarySignature: armoredSig, config: cfg });
  } catch (err) {
    res.reason = `the signature could not be read: ${(err as Error).message}`;
    return done();
  }
  const packets = [...sig.packets];
  if (packets.length !== 1) {
    res.reason = `the signature block holds ${packets.length} signatures; send exactly one`;
    return done();
  }
  const pkt = packets[0];
  // openpgp.js keeps a packet it cannot parse (a v3 one) with its fields
  // unset: nothing more to read from it (the octet verdict, if any, says why).
  if ((pkt.version !== 4 && pkt.version !== 6) || !pkt.issuerKeyID) {
    res.reason = 'the signature packet cannot be read: it is not a v4 or v6 OpenPGP signature';
    return done();
  }
  // The same judgement on what openpgp.js parsed (as src/mail/verify-mail.ts
  // does): the packet checked is never one the policy refuses.
  const parsed = judgeSignatureAlgorithms(policy, { version: pkt.version, hashId: pkt.hashAlgorithm ?? -1, publicKeyId: pkt.publicKeyAlgorithm ?? -1 });
  if (!refusal && !parsed.ok) {
    refusal = { reason: `the signature${pkt.created ? ` made ${pkt.created.toISOString()}` : ''} by key ${pkt.issuerKeyID.toHex().toUpperCase()} was not accepted: ${parsed.reason}`,
      fix: parsed.fix, keyId: null, created: null };
  }
  res.signerKeyId = pkt.issuerKeyID.toHex().toLowerCase();
  res.hashAlgorithm = hashName(pkt.hashAlgorithm);
  res.created = pkt.created;
  res.signatureType = pkt.signatureType === openpgp.enums.signature.binary ? 'binary'
    : pkt.signatureType === openpgp.enums.signature.text ? 'text' : 'other';
  if (res.signatureType === 'other') {
    res.reason = 'it is not a document signature (binary or text)';
    return done();
  }
  const ring = toKeyring(collectionKeys);
  const candidates = ring.findAllByKeyId(res.signerKeyId);
  if (candidates.length === 0) {
    res.reason = `it was made by key ${res.signerKeyId}, which is not in the collection`;
    return done();
  }
  const message = await openpgp.createMessage({ binary: Buffer.from(bytes) });
  let lastErr = 'signature does not verify';
  for (const key of candidates) {
    try {
      // openpgp.js refuses a signature dated after `date`; allow the policy's clock skew.
      const date = latestAcceptedDate(policy, now);
      const out = await openpgp.verify({ message, signature: sig, verificationKeys: [key], config: cfg, date, format: 'binary' });
      for (const s of out.signatures) {
        await s.verified;
        res.valid = true;
        res.signer = fingerprintOf(key);
      }
      if (res.valid) break;
    } catch (err) {
      lastErr = (err as Error).message;
    }
  }
  if (!res.valid) {
    res.reason = `the signature by ${res.signerKeyId} does not verify over these exact bytes: ${lastErr}`;
    return done();
  }
  // Policy on a valid signature (its hash and version were judged above, from its octets).
  const key = ring.findByFingerprint(res.signer!)!;
  const report = await inspectKey(key, { collection: ring, policy, now });
  if (!report.judgement.ok) res.problems.push(`the signing key ${report.keyId} is ${report.algorithm}: ${report.judgement.reason}`);
  if (report.revoked) res.problems.push(`the signing key ${report.keyId} is revoked`);
  if (report.expired) res.problems.push(`the signing key ${report.keyId} has expired`);
  const sub = key.getKeys(pkt.issuerKeyID).find((k) => k !== key);
  if (sub) {
    const sr = report.subkeys.find((s) => s.keyId === keyIdOf(sub));
    if (sr && !sr.judgement.ok) res.problems.push(`the signing subkey ${sr.keyId} is ${sr.algorithm}: ${sr.judgement.reason}`);
  }
  res.ok = res.problems.length === 0;
  res.reason = res.ok ? `good signature by ${res.signer}` : res.problems.join('; ');
  return done();
}

export type CertSubmission =
  | { ok: true; check: CaCheck; via: 'signature'; signer: string; warnings: string[] }
  | { ok: true; check: CaCheck; via: 'chain'; issuer: string; warnings: string[] }
  | { ok: false; check: CaCheck; reasons: string[]; fix: string };

/**
 * SUBMIT CERT: the certificate must be an acceptable CA certificate, and
 * either carry a detached signature by a collection key over its exact
 * bytes, or be issued by a certificate already in the collection.
 */
export async function checkSubmittedCert(
  pem: Uint8Array,
  signature: string | null,
  ctx: { collectionKeys: KeyLookup; collectionCerts: readonly CollectionCert[]; policy?: CryptoPolicy; now?: Date; limits?: Limits },
): Promise<CertSubmission> {
  const policy = ctx.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = ctx.now ?? new Date();
  const check = checkCaCert(pem, policy, now, ctx.limits ?? DEFAULT_LIMITS);
  if (!check.ok) {
    return { ok: false, check, reasons: check.reasons,
      fix: 'submit an X.509 v3 CA certificate (basicConstraints=critical,CA:TRUE; keyUsage=critical,keyCertSign,cRLSign) signed with SHA-256 or better, with an RSA 3072+, EC P-256+ or Ed25519 key' };
  }
  if (signature !== null) {
    const v = await verifyDetachedSignature(pem, signature, ctx.collectionKeys, { policy, now });
    if (v.ok) return { ok: true, check, via: 'signature', signer: v.signer!, warnings: check.warnings };
    return { ok: false, check, reasons: [v.reason],
      fix: v.fix ?? 'sign the exact file with a collection key: gpg --local-user <FINGERPRINT> --armor --detach-sign <name>.crt, and send the .crt and .crt.asc unchanged' };
  }
  const issuer = chainsTo(pem, ctx.collectionCerts, now);
  if (issuer) return { ok: true, check, via: 'chain', issuer: issuer.name, warnings: check.warnings };
  return { ok: false, check, reasons: ['it carries no detached signature and is not issued by a certificate in the collection'],
    fix: 'add a detached armoured signature by a collection key (gpg --armor --detach-sign <name>.crt)' };
}
