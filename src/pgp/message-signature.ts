/**
 * Checking one message signature (type 0x00 binary or 0x01 text) made by a
 * key of the keyring: what openpgp.js's `verify` does for each signature
 * (createVerificationObject and SignaturePacket.verify in openpgp 6.3.2),
 * with the public-key operation done by node:crypto on a key object made
 * once per key packet.
 *
 * Why: openpgp.js imports the signer's key into WebCrypto at every
 * verification and runs the hash through its stream machinery; for the
 * bot's usual mail (a v4 Ed25519 or RSA signature over a few kilobytes)
 * that was most of the cost of checking a message. Everything that decides
 * whether the key may sign stays openpgp.js's own: the key found by the
 * issuer key id, its validity for signing at the signature's time
 * (`getSigningKey`: self-signatures, bindings, expiry, revocation, key flags
 * and the config's reject lists and RSA minimum).
 *
 * Only the primitive is ours, and only where it is plain: a v4 signature,
 * Ed25519 (EdDSALegacy on the Ed25519 curve, or the RFC 9580 Ed25519) or RSA,
 * with a SHA-2 hash. Anything else (v6 salts, ECDSA, Ed448, other hashes)
 * goes to openpgp.js's own SignaturePacket.verify, unchanged. The checks
 * after the primitive (dates, reject lists, critical subpackets and
 * notations, revocation keys) are openpgp.js's, in its order and with its
 * messages, which the mail verifier's verdicts read
 * (test/security/message-signature.test.ts holds both paths to the same
 * outcome on signatures made by GnuPG and on damaged ones).
 */
import { createHash, createPublicKey, constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import * as openpgp from 'openpgp';
import { publicKeyById } from '../policy/index.js';

/**
 * The openpgp.js release whose verify() this module follows, line by line.
 * Under any other release the fast path is off (every signature goes to
 * openpgp.js's own packet check), and test/security/message-signature.test.ts
 * fails until someone has read the new release's verify() against this file
 * (it checks the installed release and package.json's exact pin).
 */
export const REVIEWED_OPENPGP = 'OpenPGP.js 6.3.2';
const reviewed = openpgp.config.versionString === REVIEWED_OPENPGP;

const V4 = 4;
const PK = { rsaEncryptSign: 1, rsaSign: 3, eddsaLegacy: 22, ed25519: 27 } as const;
/** The hashes node:crypto computes here, by RFC 9580 id: SHA-2 only. */
const NODE_HASH: ReadonlyMap<number, string> = new Map([[8, 'sha256'], [9, 'sha384'], [10, 'sha512'], [11, 'sha224']]);
/**
 * RSA public exponents node:crypto takes here: up to 64 bits. OpenSSL
 * refuses larger ones, which openpgp.js's own arithmetic accepts; such a key
 * goes to openpgp.js, so the two never disagree about it.
 */
const OPENSSL_RSA_EXPONENT_OCTETS = 8;

type AnyKey = openpgp.PublicKey | openpgp.Subkey;

/**
 * The internals of openpgp.js's signature packet this module reads, as
 * REVIEWED_OPENPGP has them. A renamed field fails closed: a TypeError or a
 * missing value is a failed verification or a fall-back to openpgp.js's own
 * check, never a pass.
 */
interface SignatureInternals {
  version: number;
  signatureType: number | null;
  publicKeyAlgorithm: number | null;
  hashAlgorithm: number | null;
  issuerKeyID: openpgp.KeyID;
  created: Date | null;
  signedHashValue: Uint8Array | null;
  params: unknown;
  unknownSubpackets: { type: number; critical: boolean }[];
  rawNotations: { name: string; critical: boolean }[];
  revocationKeyClass: number | null;
  getExpirationTime(): Date | number;
  toHash(type: number, data: openpgp.LiteralDataPacket, detached: boolean): unknown;
  verify(key: openpgp.AnyKeyPacket, type: number, data: openpgp.LiteralDataPacket, date: Date, detached: boolean, config: openpgp.Config): Promise<void>;
}

interface KeyPacketInternals {
  version: number;
  algorithm: number;
  publicParams: { oid?: { getName(): string }; Q?: Uint8Array; A?: Uint8Array; n?: Uint8Array; e?: Uint8Array };
}

/** openpgp.js's .d.ts marks these private; they are how its own verify() builds the literal data. */
interface LiteralInternals {
  setBytes(bytes: Uint8Array, format: openpgp.enums.literal): void;
  setText(text: string): void;
}

type FastKey = { kind: 'ed25519'; key: KeyObject } | { kind: 'rsa'; key: KeyObject; modulus: Buffer };

// One key object per key packet. A keyring is rebuilt when the collection
// changes (src/pgp/known.ts), and its packets with it, so the entries go
// with the old keyring.
const fastKeys = new WeakMap<object, FastKey | null>();

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** A node:crypto key for the packet, or null for a kind this module leaves to openpgp.js. */
function fastKeyOf(packet: openpgp.AnyKeyPacket): FastKey | null {
  if (fastKeys.has(packet)) return fastKeys.get(packet)!;
  let fast: FastKey | null = null;
  try {
    const p = packet as unknown as KeyPacketInternals;
    const { Q, A, n, e, oid } = p.publicParams;
    if (p.version === V4 && p.algorithm === PK.eddsaLegacy && oid?.getName() === 'ed25519Legacy' && Q?.length === 33 && Q[0] === 0x40) {
      fast = { kind: 'ed25519', key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(Q.subarray(1)) }, format: 'jwk' }) };
    } else if (p.version === V4 && p.algorithm === PK.ed25519 && A?.length === 32) {
      fast = { kind: 'ed25519', key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(A) }, format: 'jwk' }) };
    } else if (p.version === V4 && (p.algorithm === PK.rsaEncryptSign || p.algorithm === PK.rsaSign) && n && e && n.length > 0 && n[0] !== 0
      && e.length <= OPENSSL_RSA_EXPONENT_OCTETS) {
      fast = { kind: 'rsa', key: createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' }), modulus: Buffer.from(n) };
    }
  } catch {
    fast = null; // a key node:crypto will not take: openpgp.js judges it as before
  }
  fastKeys.set(packet, fast);
  return fast;
}

function leftPad(b: Uint8Array, size: number): Buffer | null {
  if (b.length > size) return null;
  const out = Buffer.alloc(size);
  out.set(b, size - b.length);
  return out;
}

/**
 * The public-key operation over `toHash` with node:crypto, as openpgp.js's
 * `verify$1` does it for these kinds; null when this signature is not one
 * of them (the caller then lets openpgp.js verify it).
 */
function fastPrimitive(sig: SignatureInternals, key: FastKey, hashName: string, toHash: Uint8Array, digest: Buffer, params: unknown): boolean | null {
  const algo = sig.publicKeyAlgorithm;
  if (key.kind === 'ed25519' && (algo === PK.eddsaLegacy || algo === PK.ed25519)) {
    let rs: Buffer | null;
    if (algo === PK.eddsaLegacy) {
      // Padded before the hash is judged, as openpgp.js does: a value too
      // long for the curve is its error ("Input array too long"), not ours.
      const { r, s } = params as { r?: Uint8Array; s?: Uint8Array };
      const rp = r && leftPad(r, 32);
      const sp = s && leftPad(s, 32);
      rs = rp && sp ? Buffer.concat([rp, sp]) : null;
    } else {
      const { RS } = params as { RS?: Uint8Array };
      rs = RS?.length === 64 ? Buffer.from(RS) : null;
    }
    if (!rs) return null;
    // The policy's registry holds RFC 9580's smallest hash for EdDSA (5.2.3.3, 5.2.3.4): 256 bits, which openpgp.js enforces too.
    if (digest.length * 8 < (publicKeyById(algo)?.minHashBits ?? Infinity)) throw new Error('Hash algorithm too weak for EdDSA.');
    // EdDSA in OpenPGP signs the digest, not the data.
    return cryptoVerify(null, digest, key.key, rs);
  }
  if (key.kind === 'rsa' && (algo === PK.rsaEncryptSign || algo === PK.rsaSign)) {
    const { s } = params as { s?: Uint8Array };
    const sp = s && leftPad(s, key.modulus.length);
    // A value not below the modulus: openpgp.js's own words for it (they differ by hash).
    if (!sp || Buffer.compare(sp, key.modulus) >= 0) return null;
    return cryptoVerify(hashName, toHash, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, sp);
  }
  return null;
}

/**
 * SignaturePacket.verify for a message signature, with the primitive above
 * when it applies; openpgp.js's own otherwise. Throws openpgp.js's errors.
 */
async function verifyPacket(
  sig: SignatureInternals, signingKey: AnyKey, data: openpgp.LiteralDataPacket, date: Date, config: openpgp.Config,
): Promise<void> {
  const type = sig.signatureType;
  if (type !== openpgp.enums.signature.binary && type !== openpgp.enums.signature.text) {
    throw new Error('not a message signature');
  }
  const hashName = NODE_HASH.get(sig.hashAlgorithm ?? -1);
  const fastKey = reviewed ? fastKeyOf(signingKey.keyPacket) : null;
  if (sig.version !== V4 || !hashName || !fastKey || !sig.signedHashValue) {
    return sig.verify(signingKey.keyPacket, type, data, date, true, config);
  }
  if (!sig.issuerKeyID.equals(signingKey.getKeyID())) throw new Error('Signature was not issued by the given public key');
  if (sig.publicKeyAlgorithm !== (signingKey.keyPacket as unknown as KeyPacketInternals).algorithm) {
    throw new Error('Public key algorithm used to sign signature does not match issuer key algorithm.');
  }
  // The bytes openpgp.js hashes (the data in the signature type's form, the hashed area, the trailer), made by openpgp.js itself.
  const toHash = sig.toHash(type, data, true);
  if (!(toHash instanceof Uint8Array)) return sig.verify(signingKey.keyPacket, type, data, date, true, config);
  const digest = createHash(hashName).update(toHash).digest();
  if (sig.signedHashValue[0] !== digest[0] || sig.signedHashValue[1] !== digest[1]) throw new Error('Signed digest did not match');
  const params = await sig.params;
  const ok = fastPrimitive(sig, fastKey, hashName, toHash, digest, params);
  if (ok === null) return sig.verify(signingKey.keyPacket, type, data, date, true, config);
  if (!ok) throw new Error('Signature verification failed');

  // openpgp.js's checks after the cryptography, in its order and words.
  if (sig.created && sig.created > date) throw new Error('Signature creation time is in the future');
  if (date >= sig.getExpirationTime()) throw new Error('Signature is expired');
  const hashId = sig.hashAlgorithm as openpgp.enums.hash;
  const label = () => openpgp.enums.read(openpgp.enums.hash, hashId).toUpperCase();
  if (config.rejectHashAlgorithms.has(hashId)) throw new Error(`Insecure hash algorithm: ${label()}`);
  if (config.rejectMessageHashAlgorithms.has(hashId)) throw new Error(`Insecure message hash algorithm: ${label()}`);
  for (const { type: t, critical } of sig.unknownSubpackets) {
    if (critical) throw new Error(`Unknown critical signature subpacket type ${t}`);
  }
  for (const { name, critical } of sig.rawNotations) {
    if (critical && !config.knownNotations.includes(name)) throw new Error(`Unknown critical notation: ${name}`);
  }
  if (sig.revocationKeyClass !== null) {
    throw new Error('This key is intended to be revoked with an authorized key, which OpenPGP.js does not support.');
  }
}

/**
 * Verifies `signature`, a binary or text signature by `key` (or one of its
 * subkeys), over `data`, as of `date`; resolves when it holds, throws
 * openpgp.js's error when it does not. `data` is the literal data as
 * openpgp.js's `verify` builds it: the bytes of a detached signature's
 * message, or the text of a cleartext message.
 */
export async function verifyMessageSignature(
  signature: openpgp.SignaturePacket, key: openpgp.PublicKey, data: openpgp.LiteralDataPacket, date: Date, config: openpgp.Config,
): Promise<void> {
  const sig = signature as unknown as SignatureInternals;
  const signingKey = key.getKeys(signature.issuerKeyID)[0];
  if (!signingKey) throw new Error(`Could not find signing key with key ID ${signature.issuerKeyID.toHex()}`);
  await verifyPacket(sig, signingKey, data, date, config);
  const created = sig.created;
  if (created === null || signingKey.getCreationTime() > created) throw new Error('Key is newer than the signature');
  // The key must have been able to sign when it made the signature.
  try {
    await key.getSigningKey(signingKey.getKeyID(), created, undefined, config);
  } catch (e) {
    if (config.allowInsecureVerificationWithReformattedKeys && /Signature creation time is in the future/.test((e as Error).message)) {
      await key.getSigningKey(signingKey.getKeyID(), date, undefined, config);
    } else {
      throw e;
    }
  }
}

/** The literal data openpgp.js verifies a detached signature against: the message bytes. */
export function literalBytes(bytes: Uint8Array): openpgp.LiteralDataPacket {
  const p = new openpgp.LiteralDataPacket();
  (p as unknown as LiteralInternals).setBytes(bytes, openpgp.enums.literal.binary);
  return p;
}

/**
 * The literal data openpgp.js verifies a cleartext signature against: the
 * message's own text as CleartextMessage.verify passes it (trailing blanks
 * removed, CRLF line ends; a binary-type signature over cleartext hashes
 * exactly that, so getText()'s LF form would not do).
 */
export function literalCleartext(msg: openpgp.CleartextMessage): openpgp.LiteralDataPacket {
  const text = (msg as unknown as { text: unknown }).text;
  if (typeof text !== 'string') throw new Error('the cleartext message holds no text');
  const p = new openpgp.LiteralDataPacket();
  (p as unknown as LiteralInternals).setText(text);
  return p;
}
