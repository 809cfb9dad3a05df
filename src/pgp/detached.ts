/**
 * Detached signatures over release files (`bash-5.3.tar.gz.sig`, binary, or
 * `.asc`, armoured): reading who made them (VERIFY with the file attached,
 * verify-source) and checking one over the file's bytes (verify-source).
 *
 * The file comes from outside (a mail attachment, a download), so it is read
 * within MESSAGE_BOUNDS: a size cap before anything is parsed, and a cap on
 * the signature packets looked at. The issuer and algorithm ids are read from
 * the packet octets first (src/pgp/sigpacket.ts), so a signature the policy
 * refuses (v3, MD5, SHA-1) is still reported with its issuer instead of as
 * "unreadable"; the policy judges those ids (src/policy/), and openpgp.js
 * checks the signature with the policy's strict configuration.
 *
 * Key validity (revoked, expired at signing time) is the caller's question,
 * answered by inspectKey: it knows which key the signature names.
 */
import * as openpgp from 'openpgp';
import { MESSAGE_BOUNDS } from '../limits.js';
import { isFutureDated, judgeSignatureAlgorithms, messageVerifyConfig, verifyConfig, type CryptoPolicy } from '../policy/index.js';
import { hashName, publicKeyName } from '../policy/openpgp.js';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import { line } from '../templates.js';
import type { Keyring } from './keyring.js';
import { readSignaturePackets, signaturePacketsWithOctets } from './sigpacket.js';

// Found by a linear scan (src/text/blocks.ts), never a lazy regex over untrusted text.
const SIG_BLOCK = blockKind('PGP SIGNATURE');

export interface SignatureIssuer {
  /** Which signature packet of the file this is: 0 for the first. */
  index: number;
  /** 16 upper-case hex digits ('' when the packet names no issuer). */
  keyId: string;
  /** Upper-case hex fingerprint from the issuer fingerprint subpacket, or null when the packet only names a key id. */
  fingerprint: string | null;
  created: Date | null;
  /** The policy's names, e.g. 'sha512', 'eddsaLegacy'. */
  hash: string;
  publicKeyAlgorithm: string;
  version: number;
  /** Why the policy refuses this signature's version or algorithms; null when it accepts them. */
  refused: string | null;
}

export type DetachedSignature =
  | {
    ok: true;
    armoured: boolean;
    /** The signature packets as binary OpenPGP (the armour removed). */
    binary: Uint8Array;
    issuers: SignatureIssuer[];
    /** The octets of each issuer's own packet (issuers[i] came from packets[i]): checked one by one. */
    packets: Uint8Array[];
    /** Signature packets beyond MESSAGE_BOUNDS.detachedSignaturePackets, not looked at. */
    more: number;
  }
  | { ok: false; rule: 'too-large' | 'not-signature' | 'unreadable'; reason: string };

/** The file looks like OpenPGP signature data (armour, or a binary packet tag): a quick test on the first bytes. */
export function looksLikeSignature(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, MESSAGE_BOUNDS.armourSniffBytes)).toString('latin1');
  if (head.includes('-----BEGIN PGP SIGNATURE-----')) return true;
  if (head.includes('-----BEGIN')) return false;
  return readSignaturePackets(bytes.subarray(0, MESSAGE_BOUNDS.detachedSignatureBytes)).length > 0;
}

/** Reads a detached signature file: armoured or binary, bounded. Never throws. */
export async function readDetachedSignature(bytes: Uint8Array, policy: CryptoPolicy): Promise<DetachedSignature> {
  if (bytes.length > MESSAGE_BOUNDS.detachedSignatureBytes) {
    return { ok: false, rule: 'too-large', reason: line('reason-signature-file-too-large', { bytes: bytes.length, limit: MESSAGE_BOUNDS.detachedSignatureBytes }) };
  }
  const text = Buffer.from(bytes).toString('latin1');
  let binary: Uint8Array;
  let armoured = false;
  if (text.includes('-----BEGIN PGP SIGNATURE-----')) {
    armoured = true;
    const block = armouredBlocks(text, [SIG_BLOCK], 1)[0];
    if (block === undefined) return { ok: false, rule: 'unreadable', reason: line('reason-signature-file-unreadable', { error: 'no END PGP SIGNATURE line' }) };
    try {
      const u = await openpgp.unarmor(block, verifyConfig());
      if (u.type !== openpgp.enums.armor.signature) throw new Error(`armour type ${String(u.type)}`);
      binary = u.data as Uint8Array;
    } catch (err) {
      return { ok: false, rule: 'unreadable', reason: line('reason-signature-file-unreadable', { error: (err as Error).message }) };
    }
  } else if (bytes.length > 0 && (bytes[0] & 0x80) !== 0) {
    binary = bytes;
  } else {
    return { ok: false, rule: 'not-signature', reason: line('reason-signature-file-not-signature', {}) };
  }
  const read = signaturePacketsWithOctets(binary);
  if (read.length === 0) return { ok: false, rule: 'not-signature', reason: line('reason-signature-file-not-signature', {}) };
  // Fingerprints come from openpgp.js's reading of the same packets, when it can read them.
  const fingerprints = new Map<string, string>();
  try {
    const sig = await openpgp.readSignature({ binarySignature: binary, config: verifyConfig() });
    for (const p of sig.packets) {
      if (p.issuerFingerprint) fingerprints.set(p.issuerKeyID.toHex().toUpperCase(), Buffer.from(p.issuerFingerprint).toString('hex').toUpperCase());
    }
  } catch { /* the ids read from the octets still name the issuer; verification reports the damage */ }
  const shown = read.slice(0, MESSAGE_BOUNDS.detachedSignaturePackets);
  const issuers = shown.map(({ facts: f }, index): SignatureIssuer => {
    const j = judgeSignatureAlgorithms(policy, { version: f.version, hashId: f.hashId, publicKeyId: f.publicKeyId });
    const keyId = f.issuerKeyId ?? '';
    return {
      index, keyId, fingerprint: fingerprints.get(keyId) ?? null, created: f.created, hash: hashName(f.hashId), publicKeyAlgorithm: publicKeyName(f.publicKeyId),
      version: f.version, refused: j.ok ? null : j.reason,
    };
  });
  return { ok: true, armoured, binary, issuers, packets: shown.map((p) => p.octets), more: read.length - shown.length };
}

export type DetachedCheck = { ok: true; created: Date | null } | { ok: false; reason: string };

/**
 * Checks one signature packet (`issuer`, of `sig`), made by `key` (or one of
 * its subkeys), over the data. Only that packet is read and verified: a file
 * holding several packets by the same key (a SHA-1 one then a SHA-512 one,
 * or one over other data) is judged packet by packet, never by the first
 * packet that happens to name the same key id. The checks: the policy's judgement of its algorithms, no creation date in the
 * future, then openpgp.js with the policy's strict configuration at the
 * signature's own date (the key must have been able to sign then).
 * `data` may be a stream (a release tarball is read once, not held in memory).
 */
export async function checkDetached(
  data: Uint8Array | ReadableStream<Uint8Array>,
  sig: DetachedSignature & { ok: true },
  issuer: SignatureIssuer,
  key: openpgp.PublicKey,
  policy: CryptoPolicy,
  now: Date,
): Promise<DetachedCheck> {
  if (issuer.refused) return { ok: false, reason: issuer.refused };
  if (isFutureDated(policy, issuer.created, now)) {
    return { ok: false, reason: line('reason-signature-file-future', { created: issuer.created?.toISOString() ?? '' }) };
  }
  let signature: openpgp.Signature;
  try {
    const own = sig.packets[issuer.index];
    if (own === undefined) throw new Error(`no signature packet ${issuer.index + 1} in the file`);
    signature = await openpgp.readSignature({ binarySignature: own, config: verifyConfig() });
  } catch (err) {
    return { ok: false, reason: line('reason-signature-file-unreadable', { error: (err as Error).message }) };
  }
  try {
    const message = await openpgp.createMessage({ binary: data });
    const r = await openpgp.verify({
      message, signature, verificationKeys: key, config: messageVerifyConfig(policy), format: 'binary', date: issuer.created ?? now,
    });
    // A streamed message is hashed as it is read: read it to the end before asking.
    if (r.data instanceof ReadableStream) {
      const reader = (r.data as ReadableStream<Uint8Array>).getReader();
      while (!(await reader.read()).done) { /* hashing */ }
    }
    // The signature holds this one packet only: its verdict is the packet's own.
    const s = r.signatures[0];
    if (r.signatures.length !== 1 || !s) throw new Error(`signature packet ${issuer.index + 1} cannot be read on its own`);
    await s.verified;
    return { ok: true, created: issuer.created };
  } catch (err) {
    return { ok: false, reason: line('reason-signature-file-bad', { error: (err as Error).message }) };
  }
}

/**
 * The key of `ring` that made a signature packet: by the fingerprint it
 * names (a subkey's finds its primary key), else by its key id when exactly
 * one key holds that id (a key id two keys share names neither).
 */
export function findIssuer(issuer: SignatureIssuer, ring: Keyring): openpgp.PublicKey | null {
  if (issuer.fingerprint) return ring.findByFingerprint(issuer.fingerprint) ?? null;
  const all = issuer.keyId ? ring.findAllByKeyId(issuer.keyId) : [];
  return all.length === 1 ? all[0] : null;
}
