/**
 * What a public key holds, checked signature by signature: the one place that
 * turns an openpgp.js key object into facts the admission rules, the audit
 * and the replies can state (algorithm and its judgement, self-signed user
 * IDs, expiry, revocation, every third-party certification with its hash
 * algorithm and whether it verifies against a collection key, subkeys and
 * their capabilities).
 *
 * Two deliberate choices:
 * - openpgp.js is asked only "is this signature cryptographically sound?"
 *   (with the permissive verifyConfig() and NO date, so it neither refuses
 *   SHA-1/DSA nor applies its own clock). Every acceptance decision (hash,
 *   key size, expiry, clock) is made here from src/policy/, so the
 *   reports can say precisely what is wrong with old collection data instead
 *   of "invalid".
 * - Nothing here throws on odd real-world data (DSA-1024, ElGamal subkeys,
 *   SHA-1 certifications, designated revokers, unknown critical subpackets):
 *   each becomes a flagged fact. Only unreadable input throws (PgpError).
 */
import * as openpgp from 'openpgp';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import { PgpError } from '../errors.js';
import { Keyring } from './keyring.js';
import { forgeableBecause, type PublicParams } from '../policy/forgeable.js';
import {
  DEFAULT_CRYPTO_POLICY,
  hashName,
  isFutureDated,
  isRejectedHash,
  judgeKeyAlgorithm,
  PUBLIC_KEY_ALGORITHMS,
  verifyConfig,
  type CryptoPolicy,
  type KeyStrength,
} from '../policy/index.js';
import { MESSAGE_BOUNDS } from '../limits.js';

/** Where issuers are looked up: a Keyring, a map fingerprint -> key, or a list of keys. */
export type KeyLookup = Keyring | Map<string, openpgp.PublicKey> | readonly openpgp.PublicKey[];

export interface InspectContext {
  collection: KeyLookup;
  policy?: CryptoPolicy;
  now?: Date;
}

/** One third-party certification (signature types 0x10-0x13 by another key) on a user ID. */
export interface CertInfo {
  /** The user ID it certifies (`[user attribute]` for a photo ID). */
  userId: string;
  /** 16 lowercase hex digits. */
  issuerKeyId: string;
  /** UPPER hex fingerprint of the issuer's primary key when known (subpacket or collection), else null. */
  issuerFingerprint: string | null;
  /** The issuer is a key of the collection (and not the certified key itself). */
  issuerInCollection: boolean;
  /** 0x10..0x13 */
  signatureType: number;
  /** Lowercase: md5, sha1, ripemd160, sha256, sha384, sha512, sha224, sha3_256, sha3_512. */
  hashAlgorithm: string;
  /** The hash is one the policy refuses on new signatures (SHA-1, MD5, RIPEMD-160). */
  weakHash: boolean;
  created: Date | null;
  /** null: the certification never expires. */
  expires: Date | null;
  expired: boolean;
  /** Dated ahead of `now` by more than the policy's clock skew. */
  future: boolean;
  /** null: the issuer is not known, so it could not be checked; false: it does not verify. */
  valid: boolean | null;
  invalidReason?: string;
  /** A verified certification revocation by the same issuer, not older than this certification. */
  revoked: boolean;
  /** false when the signature carries the non-exportable flag (local signature). */
  exportable: boolean;
  /** The signature packet itself (for stripping and merging). */
  packet: openpgp.SignaturePacket;
}

export interface UserIdReport {
  userId: string;
  name: string;
  email: string;
  /** true for a user attribute (photo ID) packet. */
  attribute: boolean;
  /** At least one self-certification verifies, is not expired and not dated in the future. */
  selfSigned: boolean;
  /** Hash of the newest valid self-certification, when there is one. */
  selfSignatureHash: string | null;
  /** Every valid self-certification uses a hash the policy refuses. */
  selfSignatureWeak: boolean;
  revoked: boolean;
  primary: boolean;
}

export interface KeyCapabilities {
  certify: boolean;
  sign: boolean;
  encrypt: boolean;
  authenticate: boolean;
}

export interface SubkeyReport {
  fingerprint: string;
  keyId: string;
  created: Date;
  algorithm: string;
  bits?: number;
  curve?: string;
  judgement: KeyStrength;
  /** A binding signature by the primary key verifies. */
  bound: boolean;
  expires: Date | null;
  expired: boolean;
  revoked: boolean;
  /** Capabilities from the newest valid binding signature (signing also needs a valid back-signature). */
  capabilities: KeyCapabilities;
  notes: string[];
}

export interface KeyReport {
  /** UPPER hex. */
  fingerprint: string;
  /** 16 lowercase hex digits. */
  keyId: string;
  created: Date;
  algorithm: string;
  bits?: number;
  curve?: string;
  judgement: KeyStrength;
  userIds: UserIdReport[];
  /** Key expiry from the primary user's newest valid self-signature; null: never. */
  expires: Date | null;
  expired: boolean;
  revoked: boolean;
  revocationReason: string | null;
  /** Third-party certifications, in key order. */
  certifications: CertInfo[];
  subkeys: SubkeyReport[];
  /** Primary key capabilities. */
  capabilities: KeyCapabilities;
  /** The primary key or a valid, unexpired, unrevoked subkey can make signatures. */
  canSign: boolean;
  /** Binary size of the key as submitted. */
  binaryBytes: number;
  isPrivate: boolean;
  /** Oddities that are flagged rather than thrown. */
  notes: string[];
}

// ---------------------------------------------------------------------------
// small helpers, exported because admission, audit and the collection share them

export function fingerprintOf(key: openpgp.Key | openpgp.Subkey): string {
  return key.getFingerprint().toUpperCase();
}

export function keyIdOf(key: openpgp.Key | openpgp.Subkey): string {
  return key.getKeyID().toHex().toLowerCase();
}

/**
 * Algorithm facts in the policy's vocabulary. openpgp.js v6 names the legacy
 * 25519 curves `ed25519Legacy` / `curve25519Legacy`; the policy lists them as
 * `ed25519` / `curve25519`, so they are mapped here (otherwise every modern
 * GnuPG Ed25519 key would be judged "curve not accepted").
 */
export function algorithmInfo(k: { getAlgorithmInfo(): openpgp.AlgorithmInfo }): { algorithm: string; bits?: number; curve?: string; forgeable?: string } {
  const info = k.getAlgorithmInfo();
  const out: { algorithm: string; bits?: number; curve?: string; forgeable?: string } = { algorithm: info.algorithm };
  // A key, a subkey or a bare key packet: the parameters are on the packet.
  const holder = k as { publicParams?: PublicParams; keyPacket?: { publicParams?: PublicParams } };
  const forgeable = forgeableBecause(info.algorithm, holder.publicParams ?? holder.keyPacket?.publicParams);
  if (forgeable) out.forgeable = forgeable;
  if (info.bits !== undefined) out.bits = info.bits;
  if (info.curve !== undefined) {
    const c = String(info.curve);
    out.curve = c === 'ed25519Legacy' ? 'ed25519' : c === 'curve25519Legacy' ? 'curve25519' : c;
  }
  // The v6 25519/448 algorithms carry no curve parameter.
  if (out.curve === undefined) {
    if (info.algorithm === 'ed25519' || info.algorithm === 'x25519') out.curve = info.algorithm === 'ed25519' ? 'ed25519' : 'x25519';
    if (info.algorithm === 'ed448' || info.algorithm === 'x448') out.curve = info.algorithm;
  }
  return out;
}

/** Normalise any lookup to a Keyring. */
export function toKeyring(lookup: KeyLookup): Keyring {
  if (lookup instanceof Keyring) return lookup;
  if (lookup instanceof Map) return Keyring.fromKeys([...lookup.values()]);
  return Keyring.fromKeys([...lookup]);
}

// Each kind closed by its own END, found by a linear scan: the regex
// /BEGIN (PUBLIC|PRIVATE)[\s\S]*?END \1/ was retried from every BEGIN line.
const PUBLIC_BLOCK = [blockKind('PGP PUBLIC KEY BLOCK'), blockKind('PGP PRIVATE KEY BLOCK')];

/**
 * Read every key in armoured text (one or several armour blocks, as in the
 * group's concatenated pgp-bundle.asc) or in binary bytes. Copies are NOT
 * merged: the caller decides (import reports differing copies).
 * Private keys are returned as they are, so admission can refuse them loudly.
 * @throws PgpError PGP_PARSE
 */
export async function readKeysAny(input: string | Uint8Array): Promise<openpgp.Key[]> {
  const cfg = verifyConfig();
  const text = typeof input === 'string' ? input : looksArmored(input) ? Buffer.from(input).toString('latin1') : null;
  try {
    if (text === null) return await openpgp.readKeys({ binaryKeys: input as Uint8Array, config: cfg });
    const blocks = armouredBlocks(text, PUBLIC_BLOCK);
    if (blocks.length === 0) throw new Error('no armoured OpenPGP key block found');
    const out: openpgp.Key[] = [];
    for (const b of blocks) out.push(...(await openpgp.readKeys({ armoredKeys: b, config: cfg })));
    return out;
  } catch (err) {
    if (err instanceof PgpError) throw err;
    throw new PgpError('PGP_PARSE', `the OpenPGP key data could not be read: ${(err as Error).message}`, { cause: err });
  }
}

function looksArmored(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, MESSAGE_BOUNDS.armourSniffBytes)).toString('latin1');
  return head.includes('-----BEGIN PGP ');
}

/** Fresh, independent copy of a key (openpgp.js objects share packets otherwise). */
export async function cloneKey(key: openpgp.Key): Promise<openpgp.PublicKey> {
  const k = await openpgp.readKey({ binaryKey: key.write(), config: verifyConfig() });
  return k;
}

/**
 * Cryptographic check of one signature packet, without any date logic
 * (date checks are the policy's, made by the callers from `created`).
 * Returns null when it verifies, else the library's reason.
 */
export async function checkSignature(
  sig: openpgp.SignaturePacket,
  signer: openpgp.AnyKeyPacket,
  type: openpgp.enums.signature,
  data: object,
  cfg: openpgp.Config,
): Promise<string | null> {
  try {
    // date = null: openpgp.js then skips its creation/expiry checks (see SignaturePacket.verify);
    // the callers judge time with the policy.
    await sig.verify(signer, type, data, null as unknown as Date, false, cfg);
    return null;
  } catch (err) {
    return (err as Error).message || 'signature does not verify';
  }
}

function sigExpires(sig: openpgp.SignaturePacket): Date | null {
  const t = sig.getExpirationTime();
  return t === Infinity ? null : (t as Date);
}

function flagsOf(sig: openpgp.SignaturePacket | null, algorithm: string): KeyCapabilities {
  const f = sig?.keyFlags?.[0];
  if (f === undefined) {
    // No key flags subpacket (old keys): infer from the algorithm, as GnuPG does.
    // Which algorithms can sign is the policy's registry table (one table, src/policy/openpgp.ts).
    const signAlg = PUBLIC_KEY_ALGORITHMS.some((a) => a.name === algorithm && a.signs);
    const encAlg = ['rsaEncryptSign', 'rsaEncrypt', 'elgamal', 'ecdh', 'x25519', 'x448'].includes(algorithm);
    return { certify: signAlg, sign: signAlg, encrypt: encAlg, authenticate: false };
  }
  return {
    certify: (f & openpgp.enums.keyFlags.certifyKeys) !== 0,
    sign: (f & openpgp.enums.keyFlags.signData) !== 0,
    encrypt: (f & (openpgp.enums.keyFlags.encryptCommunication | openpgp.enums.keyFlags.encryptStorage)) !== 0,
    authenticate: (f & openpgp.enums.keyFlags.authentication) !== 0,
  };
}

function newest(sigs: openpgp.SignaturePacket[]): openpgp.SignaturePacket | null {
  let best: openpgp.SignaturePacket | null = null;
  for (const s of sigs) if (!best || (s.created?.getTime() ?? 0) >= (best.created?.getTime() ?? 0)) best = s;
  return best;
}

function userIdText(user: openpgp.User): { userId: string; name: string; email: string; attribute: boolean } {
  if (user.userID) return { userId: user.userID.userID, name: user.userID.name, email: user.userID.email, attribute: false };
  return { userId: '[user attribute]', name: '', email: '', attribute: true };
}

function reasonText(sig: openpgp.SignaturePacket): string | null {
  if (sig.reasonForRevocationFlag === null && !sig.reasonForRevocationString) return null;
  let flag = '';
  if (sig.reasonForRevocationFlag !== null) {
    {
      const names: Record<number, string> = { 0: 'no reason', 1: 'superseded', 2: 'compromised', 3: 'retired', 32: 'user ID no longer valid' };
      flag = names[sig.reasonForRevocationFlag] ?? `reason ${sig.reasonForRevocationFlag}`;
    }
  }
  return [flag, sig.reasonForRevocationString ?? ''].filter(Boolean).join(': ');
}

/** Key packets (primary or subkey) of the collection that can have made a signature with this issuer. */
export function issuerCandidates(
  ring: Keyring,
  sig: openpgp.SignaturePacket,
): { key: openpgp.PublicKey; packet: openpgp.Key | openpgp.Subkey }[] {
  const id = sig.issuerKeyID.toHex();
  if (/^0+$/.test(id)) return [];
  const fpr = sig.issuerFingerprint ? Buffer.from(sig.issuerFingerprint).toString('hex').toUpperCase() : null;
  const out: { key: openpgp.PublicKey; packet: openpgp.Key | openpgp.Subkey }[] = [];
  for (const key of ring.findAllByKeyId(id)) {
    for (const k of key.getKeys(sig.issuerKeyID)) {
      if (fpr && fpr !== fingerprintOf(k)) continue;
      out.push({ key, packet: k });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

/**
 * Inspect a key: every fact the rules need, every signature checked. Never
 * throws on legacy algorithms or odd signatures.
 */
export async function inspectKey(key: openpgp.Key, ctx: InspectContext): Promise<KeyReport> {
  const policy = ctx.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = ctx.now ?? new Date();
  const ring = toKeyring(ctx.collection);
  const cfg = verifyConfig();
  const primary = key.keyPacket;
  const fpr = fingerprintOf(key);
  const notes: string[] = [];
  const algo = algorithmInfo(key);

  // --- user IDs and their self-certifications
  const userIds: UserIdReport[] = [];
  const certifications: CertInfo[] = [];
  let primaryCandidate: { sig: openpgp.SignaturePacket; isPrimary: boolean } | null = null;

  for (const user of key.users) {
    const t = userIdText(user);
    const data = { userID: user.userID, userAttribute: user.userAttribute, key: primary };
    const validSelf: openpgp.SignaturePacket[] = [];
    for (const sig of user.selfCertifications) {
      const err = await checkSignature(sig, primary, openpgp.enums.signature.certGeneric, data, cfg);
      if (err) {
        // openpgp.js refuses any signature carrying a revocation-key subpacket; the fact is on the packet.
        if (sig.revocationKeyClass !== null) notes.push(`user ID "${t.userId}": a self-signature names a designated revoker (not supported)`);
        continue;
      }
      const exp = sigExpires(sig);
      if (exp && exp.getTime() <= now.getTime()) continue;
      if (isFutureDated(policy, sig.created, now)) continue;
      validSelf.push(sig);
    }
    const latest = newest(validSelf);
    // UID revocation by the key itself, newer than its newest self-signature
    let uidRevoked = false;
    for (const rev of user.revocationSignatures) {
      if (!rev.issuerKeyID.equals(key.getKeyID())) continue;
      const err = await checkSignature(rev, primary, openpgp.enums.signature.certRevocation, data, cfg);
      if (err) continue;
      if (!latest || (rev.created?.getTime() ?? 0) >= (latest.created?.getTime() ?? 0)) uidRevoked = true;
    }
    const report: UserIdReport = {
      ...t,
      selfSigned: latest !== null,
      selfSignatureHash: latest ? hashName(latest.hashAlgorithm) : null,
      selfSignatureWeak: validSelf.length > 0 && validSelf.every((s) => isRejectedHash(policy, hashName(s.hashAlgorithm))),
      revoked: uidRevoked,
      primary: false,
    };
    userIds.push(report);
    if (latest && !uidRevoked && !t.attribute) {
      const isPrimary = latest.isPrimaryUserID === true;
      if (
        !primaryCandidate ||
        (isPrimary && !primaryCandidate.isPrimary) ||
        (isPrimary === primaryCandidate.isPrimary && (latest.created?.getTime() ?? 0) > (primaryCandidate.sig.created?.getTime() ?? 0))
      ) {
        primaryCandidate = { sig: latest, isPrimary };
      }
    }

    // --- third-party certifications on this user ID
    for (const sig of user.otherCertifications) {
      certifications.push(await inspectCertification(key, user, sig, ring, policy, now, cfg));
    }
  }
  if (primaryCandidate) {
    const idx = userIds.findIndex((_u, i) => key.users[i].selfCertifications.includes(primaryCandidate.sig));
    if (idx >= 0) userIds[idx].primary = true;
  }

  // --- direct-key signatures may also carry flags and expiry
  const direct = ((key as unknown as { directSignatures?: openpgp.SignaturePacket[] }).directSignatures ?? []);
  const validDirect: openpgp.SignaturePacket[] = [];
  for (const sig of direct) {
    if (sig.signatureType !== openpgp.enums.signature.key) continue;
    if (!sig.issuerKeyID.equals(key.getKeyID())) continue;
    if (await checkSignature(sig, primary, openpgp.enums.signature.key, { key: primary }, cfg)) continue;
    validDirect.push(sig);
  }
  const latestDirect = newest(validDirect);
  const selfSig = primaryCandidate?.sig ?? latestDirect;
  let expires: Date | null = null;
  for (const s of [latestDirect, primaryCandidate?.sig ?? null]) {
    if (s && s.keyExpirationTime && s.keyExpirationTime > 0) {
      const e = new Date(primary.created.getTime() + s.keyExpirationTime * 1000);
      if (expires === null || e < expires) expires = e;
    }
  }

  // --- key revocation
  let revoked = false;
  let revocationReason: string | null = null;
  for (const rev of key.revocationSignatures) {
    if (!rev.issuerKeyID.equals(key.getKeyID())) {
      notes.push(`a key revocation by ${rev.issuerKeyID.toHex()} (designated revoker) was not checked`);
      continue;
    }
    if (await checkSignature(rev, primary, openpgp.enums.signature.keyRevocation, { key: primary }, cfg)) continue;
    revoked = true;
    revocationReason = reasonText(rev);
  }

  const capabilities = flagsOf(selfSig, algo.algorithm);
  const judgement = judgeKeyAlgorithm(policy, algo);
  const expired = expires !== null && expires.getTime() <= now.getTime();

  // --- subkeys
  const subkeys: SubkeyReport[] = [];
  for (const sub of key.subkeys) subkeys.push(await inspectSubkey(key, sub, policy, now, cfg));

  const primaryUsable = !revoked && !expired && selfSig !== null;
  const canSign =
    primaryUsable &&
    ((capabilities.sign && judgement.ok) ||
      subkeys.some((s) => s.bound && !s.revoked && !s.expired && s.capabilities.sign && s.judgement.ok));

  if (!userIds.some((u) => u.selfSigned)) notes.push('no user ID carries a valid self-signature');

  const sa: KeyReport = {
    fingerprint: fpr,
    keyId: keyIdOf(key),
    created: primary.created,
    algorithm: algo.algorithm,
    judgement,
    userIds,
    expires,
    expired,
    revoked,
    revocationReason,
    certifications,
    subkeys,
    capabilities,
    canSign,
    binaryBytes: key.write().length,
    isPrivate: key.isPrivate(),
    notes,
  };
  if (algo.bits !== undefined) sa.bits = algo.bits;
  if (algo.curve !== undefined) sa.curve = algo.curve;
  return sa;
}

async function inspectCertification(
  key: openpgp.Key,
  user: openpgp.User,
  sig: openpgp.SignaturePacket,
  ring: Keyring,
  policy: CryptoPolicy,
  now: Date,
  cfg: openpgp.Config,
): Promise<CertInfo> {
  const selfFpr = fingerprintOf(key);
  const hash = hashName(sig.hashAlgorithm);
  const expires = sigExpires(sig);
  const subpacketFpr = sig.issuerFingerprint ? Buffer.from(sig.issuerFingerprint).toString('hex').toUpperCase() : null;
  const info: CertInfo = {
    userId: userIdText(user).userId,
    issuerKeyId: sig.issuerKeyID.toHex().toLowerCase(),
    issuerFingerprint: subpacketFpr && subpacketFpr.length === 40 ? subpacketFpr : null,
    issuerInCollection: false,
    signatureType: sig.signatureType ?? 0,
    hashAlgorithm: hash,
    weakHash: isRejectedHash(policy, hash),
    created: sig.created,
    expires,
    expired: expires !== null && expires.getTime() <= now.getTime(),
    future: isFutureDated(policy, sig.created, now),
    valid: null,
    revoked: false,
    exportable: sig.exportable !== false,
    packet: sig,
  };
  // The certified key itself (e.g. one of its own subkeys) is never "another collection key".
  const candidates = issuerCandidates(ring, sig).filter((c) => fingerprintOf(c.key) !== selfFpr);
  if (candidates.length === 0) return info;
  info.issuerInCollection = true;
  const data = { userID: user.userID, userAttribute: user.userAttribute, key: key.keyPacket };
  let lastErr = 'signature does not verify';
  for (const c of candidates) {
    const err = await checkSignature(sig, c.packet.keyPacket, openpgp.enums.signature.certGeneric, data, cfg);
    if (err === null) {
      info.valid = true;
      info.issuerFingerprint = fingerprintOf(c.key);
      delete info.invalidReason;
      // A certification revocation by the same issuer, not older than the certification.
      for (const rev of user.revocationSignatures) {
        if (!rev.issuerKeyID.equals(sig.issuerKeyID)) continue;
        if ((rev.created?.getTime() ?? 0) < (sig.created?.getTime() ?? 0)) continue;
        if ((await checkSignature(rev, c.packet.keyPacket, openpgp.enums.signature.certRevocation, data, cfg)) === null) {
          info.revoked = true;
        }
      }
      return info;
    }
    lastErr = err;
  }
  info.valid = false;
  info.invalidReason = lastErr;
  if (!info.issuerFingerprint) info.issuerFingerprint = fingerprintOf(candidates[0].key);
  return info;
}

async function inspectSubkey(
  key: openpgp.Key,
  sub: openpgp.Subkey,
  policy: CryptoPolicy,
  now: Date,
  cfg: openpgp.Config,
): Promise<SubkeyReport> {
  const primary = key.keyPacket;
  const algo = algorithmInfo(sub);
  const notes: string[] = [];
  const data = { key: primary, bind: sub.keyPacket };
  const valid: openpgp.SignaturePacket[] = [];
  for (const sig of sub.bindingSignatures) {
    if (await checkSignature(sig, primary, openpgp.enums.signature.subkeyBinding, data, cfg)) continue;
    if (isFutureDated(policy, sig.created, now)) continue;
    valid.push(sig);
  }
  const binding = newest(valid);
  let revoked = false;
  for (const rev of sub.revocationSignatures) {
    if (await checkSignature(rev, primary, openpgp.enums.signature.subkeyRevocation, data, cfg)) continue;
    revoked = true;
  }
  let expires: Date | null = null;
  if (binding && binding.keyExpirationTime && binding.keyExpirationTime > 0) {
    expires = new Date(sub.keyPacket.created.getTime() + binding.keyExpirationTime * 1000);
  }
  const capabilities = flagsOf(binding, algo.algorithm);
  if (binding && capabilities.sign) {
    // A signing subkey must cross-certify its primary (back-signature), or
    // anyone could bind someone else's signing key to their own key.
    const back = binding.embeddedSignature;
    const ok = back !== null && back !== undefined &&
      (await checkSignature(back, sub.keyPacket, openpgp.enums.signature.keyBinding, data, cfg)) === null;
    if (!ok) {
      capabilities.sign = false;
      notes.push('signing flag without a valid back-signature: not usable for signing');
    }
  }
  if (!binding) notes.push('no valid binding signature');
  const r: SubkeyReport = {
    fingerprint: fingerprintOf(sub),
    keyId: keyIdOf(sub),
    created: sub.keyPacket.created,
    algorithm: algo.algorithm,
    judgement: judgeKeyAlgorithm(policy, algo),
    bound: binding !== null,
    expires,
    expired: expires !== null && expires.getTime() <= now.getTime(),
    revoked,
    capabilities,
    notes,
  };
  if (algo.bits !== undefined) r.bits = algo.bits;
  if (algo.curve !== undefined) r.curve = algo.curve;
  return r;
}
