/**
 * Packet-level merging of two copies of the same OpenPGP key.
 *
 * openpgp.js has `Key.update`, but it silently drops what it cannot verify
 * and merges third-party certifications without asking; the collection needs
 * the opposite: every piece the incoming copy adds is enumerated, a caller's
 * filter decides piece by piece (UPDATE KEY keeps certifications by
 * collection keys and valid self-signatures, import keeps everything), and
 * the caller can say exactly what was added and what was dropped.
 */
import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import { PgpError } from '../errors.js';
import { cloneKey, fingerprintOf } from './inspect.js';

export type MergeItem =
  /** A user ID (or attribute) the base copy lacks; its signatures come as separate items. */
  | { kind: 'user'; userId: string; user: openpgp.User }
  | { kind: 'self-cert'; userId: string; user: openpgp.User; sig: openpgp.SignaturePacket }
  | { kind: 'cert'; userId: string; user: openpgp.User; sig: openpgp.SignaturePacket }
  | { kind: 'uid-revocation'; userId: string; user: openpgp.User; sig: openpgp.SignaturePacket }
  | { kind: 'key-revocation'; sig: openpgp.SignaturePacket }
  | { kind: 'direct'; sig: openpgp.SignaturePacket }
  /** A subkey the base copy lacks; its binding and revocation signatures come as separate items. */
  | { kind: 'subkey'; fingerprint: string; subkey: openpgp.Subkey }
  | { kind: 'subkey-binding'; fingerprint: string; subkey: openpgp.Subkey; sig: openpgp.SignaturePacket }
  | { kind: 'subkey-revocation'; fingerprint: string; subkey: openpgp.Subkey; sig: openpgp.SignaturePacket };

export interface MergeResult {
  merged: openpgp.PublicKey;
  added: MergeItem[];
  skipped: MergeItem[];
}

type Internal = {
  directSignatures?: openpgp.SignaturePacket[];
};
type SigInternal = { writeUnhashedSubPackets(): Uint8Array };

/**
 * A signature's identity: its hashed part and its signature value, not the
 * unhashed subpackets (anyone can rewrite those without invalidating it, so
 * they must not make a copy look new).
 */
export function signatureId(sig: openpgp.SignaturePacket): string {
  const full = sig.write();
  const hashed = sig.signatureData ?? new Uint8Array();
  const unhashedLen = (sig as unknown as SigInternal).writeUnhashedSubPackets().length;
  const identity = Buffer.concat([Buffer.from(hashed), Buffer.from(full.subarray(hashed.length + unhashedLen))]);
  return createHash('sha256').update(identity).digest('hex');
}

export function userKey(user: openpgp.User): string {
  if (user.userID) return `uid:${user.userID.userID}`;
  if (user.userAttribute) return `uat:${Buffer.from(user.userAttribute.write()).toString('hex')}`;
  return 'unknown';
}

export function userLabel(user: openpgp.User): string {
  return user.userID ? user.userID.userID : '[user attribute]';
}

/**
 * Merge `incoming` into a copy of `base` (base is not modified). Each piece
 * of `incoming` that `base` lacks is passed to `accept`; accepted pieces are
 * added. A new user ID or subkey is added only if it is accepted AND at
 * least one of its self/binding signatures is accepted.
 * @throws PgpError PGP_PARSE when the primary keys differ.
 */
export async function mergeKeys(
  base: openpgp.Key,
  incoming: openpgp.Key,
  accept: (item: MergeItem) => boolean | Promise<boolean>,
): Promise<MergeResult> {
  if (fingerprintOf(base) !== fingerprintOf(incoming)) {
    throw new PgpError('PGP_PARSE', `cannot merge different keys ${fingerprintOf(base)} and ${fingerprintOf(incoming)}`);
  }
  const merged = await cloneKey(base);
  const src = await cloneKey(incoming);
  const added: MergeItem[] = [];
  const skipped: MergeItem[] = [];
  const decide = async (item: MergeItem): Promise<boolean> => {
    const ok = await accept(item);
    (ok ? added : skipped).push(item);
    return ok;
  };
  const known = (list: openpgp.SignaturePacket[]) => new Set(list.map(signatureId));

  // key revocations and direct-key signatures
  {
    const have = known(merged.revocationSignatures);
    for (const sig of src.revocationSignatures) {
      if (have.has(signatureId(sig))) continue;
      if (await decide({ kind: 'key-revocation', sig })) merged.revocationSignatures.push(sig);
    }
    const m = merged as unknown as Internal;
    const s = src as unknown as Internal;
    m.directSignatures ??= [];
    const haveDirect = known(m.directSignatures);
    for (const sig of s.directSignatures ?? []) {
      if (haveDirect.has(signatureId(sig))) continue;
      if (await decide({ kind: 'direct', sig })) m.directSignatures.push(sig);
    }
  }

  // users
  for (const su of src.users) {
    const label = userLabel(su);
    let du = merged.users.find((u) => userKey(u) === userKey(su));
    let isNew = false;
    if (!du) {
      if (!(await decide({ kind: 'user', userId: label, user: su }))) continue;
      // openpgp.js does not export the User class at run time: clone the
      // incoming user and empty it, then add only the accepted signatures.
      du = su.clone();
      du.selfCertifications = [];
      du.otherCertifications = [];
      du.revocationSignatures = [];
      isNew = true;
    }
    const self = known(du.selfCertifications);
    const other = known(du.otherCertifications);
    const revs = known(du.revocationSignatures);
    const newSelf: openpgp.SignaturePacket[] = [];
    for (const sig of su.selfCertifications) {
      if (self.has(signatureId(sig))) continue;
      if (await decide({ kind: 'self-cert', userId: label, user: su, sig })) newSelf.push(sig);
    }
    if (isNew && newSelf.length === 0) {
      // A new user ID without an accepted self-signature is not added at all.
      const idx = added.findIndex((a) => a.kind === 'user' && a.user === su);
      if (idx >= 0) skipped.push(...added.splice(idx, 1));
      continue;
    }
    du.selfCertifications.push(...newSelf);
    for (const sig of su.otherCertifications) {
      if (other.has(signatureId(sig))) continue;
      if (await decide({ kind: 'cert', userId: label, user: su, sig })) du.otherCertifications.push(sig);
    }
    for (const sig of su.revocationSignatures) {
      if (revs.has(signatureId(sig))) continue;
      if (await decide({ kind: 'uid-revocation', userId: label, user: su, sig })) du.revocationSignatures.push(sig);
    }
    if (isNew) merged.users.push(du);
  }

  // subkeys
  for (const ss of src.subkeys) {
    const fpr = fingerprintOf(ss);
    let ds = merged.subkeys.find((k) => fingerprintOf(k) === fpr);
    let isNew = false;
    if (!ds) {
      if (!(await decide({ kind: 'subkey', fingerprint: fpr, subkey: ss }))) continue;
      ds = new openpgp.Subkey(ss.keyPacket, merged);
      isNew = true;
    }
    const binds = known(ds.bindingSignatures);
    const revs = known(ds.revocationSignatures);
    const newBinds: openpgp.SignaturePacket[] = [];
    for (const sig of ss.bindingSignatures) {
      if (binds.has(signatureId(sig))) continue;
      if (await decide({ kind: 'subkey-binding', fingerprint: fpr, subkey: ss, sig })) newBinds.push(sig);
    }
    if (isNew && newBinds.length === 0) {
      const idx = added.findIndex((a) => a.kind === 'subkey' && a.subkey === ss);
      if (idx >= 0) skipped.push(...added.splice(idx, 1));
      continue;
    }
    ds.bindingSignatures.push(...newBinds);
    for (const sig of ss.revocationSignatures) {
      if (revs.has(signatureId(sig))) continue;
      if (await decide({ kind: 'subkey-revocation', fingerprint: fpr, subkey: ss, sig })) ds.revocationSignatures.push(sig);
    }
    if (isNew) merged.subkeys.push(ds);
  }

  // Re-read from bytes so the result is a plain, self-consistent key object.
  return { merged: await cloneKey(merged), added, skipped };
}

/** Union of every copy (import: existing data is kept, never dropped). */
export async function unionKeys(copies: openpgp.Key[]): Promise<openpgp.PublicKey> {
  if (copies.length === 0) throw new PgpError('PGP_PARSE', 'no key to merge');
  let acc = await cloneKey(copies[0]);
  for (const c of copies.slice(1)) acc = (await mergeKeys(acc, c, () => true)).merged;
  return acc;
}

/** Same packets (ignoring armour and unhashed-subpacket rewrites)? */
export function sameKeyContent(a: openpgp.Key, b: openpgp.Key): boolean {
  return Buffer.from(a.write()).equals(Buffer.from(b.write()));
}
