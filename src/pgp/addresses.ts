/**
 * Who holds which mail address in the collection: the one rule behind
 * UPDATE KEY and SUBMIT KEY (a new user ID may not take an address another
 * key holds), GET KEY and the WKD export (an address with two holders is
 * reported, never resolved by picking one) and `audit`.
 *
 * GET KEY and WKD hand out "the key of an address", so a user ID is a claim
 * on everything addressed to that address. A claim is made by a current
 * self-signed user ID (not revoked) of a key that is not itself revoked: a
 * revoked user ID or key has given the address up. Addresses come from
 * attacker-written user IDs and are read by two parsers in this code base
 * (emailOfUserId below, for WKD and notices, openpgp.js's UserIDPacket for
 * GET KEY); a user ID counts for every address either parser finds, so a
 * user ID written to be read differently by each cannot slip past.
 */
import { domainToASCII } from 'node:url';
import * as openpgp from 'openpgp';
import { inspectKey, type KeyReport, type UserIdReport } from './inspect.js';
import type { CryptoPolicy } from '../policy/index.js';

/** The e-mail address inside a user ID, if any (angle brackets first, else a bare address). */
export function emailOfUserId(uid: string): string | null {
  const angle = uid.match(/<([^<>\s]+@[^<>\s]+)>/);
  if (angle) return angle[1];
  const bare = uid.trim().match(/^[^\s<>@]+@[^\s<>@]+$/);
  return bare ? bare[0] : null;
}

/** How every comparison sees an address: trimmed, lower case, the domain in ASCII (IDNA, as WKD paths are). */
export function normaliseAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  if (at < 0) return a;
  const domain = a.slice(at + 1);
  return `${a.slice(0, at)}@${domainToASCII(domain) || domain}`;
}

/**
 * Every address a user ID names, as any reader might see it (normalised, no
 * duplicates): the two parsers above, and every address in angle brackets,
 * blanks around it trimmed ("Bob <  BOB@example.org >"), because a mail
 * client that matches user IDs more loosely than they do would still read it.
 */
export function addressesOfUserId(userId: string, parsedEmail?: string): string[] {
  const out = new Set<string>();
  const found = [emailOfUserId(userId), parsedEmail, ...[...userId.matchAll(ANGLED)].map((m) => m[1])];
  for (const a of found) if (a && a.includes('@')) out.add(normaliseAddress(a));
  return [...out];
}

const ANGLED = /<[ \t]*([^<>\s]+@[^<>\s]+)[ \t]*>/g;

/** One key's use of one address. */
export interface AddressUse {
  address: string;
  fingerprint: string;
  keyId: string;
  /** A user ID of that key naming the address (the first one). */
  userId: string;
  /** The key holds the address (see the module comment). */
  claims: boolean;
  /** The whole key is revoked (it is still published, so the revocation reaches clients). */
  keyRevoked: boolean;
}

/** Normalised address -> every key whose self-signed user IDs name it (one entry a key). */
export type AddressIndex = Map<string, AddressUse[]>;

/** Does this user ID hold its addresses? Self-signed, not revoked, not a photo, on a key that is not revoked. */
export function holdsAddresses(r: KeyReport, u: UserIdReport): boolean {
  return u.selfSigned && !u.revoked && !u.attribute && !r.revoked;
}

export async function addressIndex(keys: readonly openpgp.Key[], opts: { policy?: CryptoPolicy; now?: Date } = {}): Promise<AddressIndex> {
  const index: AddressIndex = new Map();
  for (const key of keys) {
    const r = await inspectKey(key, { collection: [], ...opts });
    for (const u of r.userIds) {
      if (!u.selfSigned || u.attribute) continue;
      const claims = holdsAddresses(r, u);
      for (const address of addressesOfUserId(u.userId, u.email)) {
        const uses = index.get(address) ?? [];
        const mine = uses.find((x) => x.fingerprint === r.fingerprint);
        if (mine) mine.claims ||= claims;
        else uses.push({ address, fingerprint: r.fingerprint, keyId: r.keyId, userId: u.userId, claims, keyRevoked: r.revoked });
        index.set(address, uses);
      }
    }
  }
  return index;
}

/**
 * Every key's use of one address: the index of `addressIndex`, built only
 * over the keys whose user IDs name it. The same result for that address,
 * without inspecting every key in the collection (GET KEY by address is
 * unsigned: anyone can ask it often).
 */
export async function addressUses(keys: readonly openpgp.Key[], address: string, opts: { policy?: CryptoPolicy; now?: Date } = {}): Promise<AddressUse[]> {
  const wanted = normaliseAddress(address);
  const candidates = keys.filter((k) => k.users.some((u) => u.userID && addressesOfUserId(u.userID.userID, u.userID.email).includes(wanted)));
  return (await addressIndex(candidates, opts)).get(wanted) ?? [];
}

/** The keys that hold `address` (normalised here); more than one is a conflict. */
export function holdersOf(index: AddressIndex, address: string): AddressUse[] {
  return (index.get(normaliseAddress(address)) ?? []).filter((u) => u.claims);
}

/** Addresses held by more than one key (imported data, or a second key of one person that the maintainers approved). */
export function addressConflicts(index: AddressIndex): { address: string; holders: AddressUse[] }[] {
  return [...index].map(([address, uses]) => ({ address, holders: uses.filter((u) => u.claims) }))
    .filter((c) => c.holders.length > 1)
    .sort((a, b) => a.address.localeCompare(b.address));
}

/** An address no key may take, and whose it is: the bot's (list null) or a list's (its List-Id). */
export interface ReservedAddress { address: string; list: string | null }

/** The bot's own address and the lists' posting addresses. */
export function reservedAddresses(cfg: { bot: { address: string }; lists?: readonly { listId: string; address?: string | undefined }[] }): ReservedAddress[] {
  const out: ReservedAddress[] = [{ address: normaliseAddress(cfg.bot.address), list: null }];
  for (const l of cfg.lists ?? []) if (l.address) out.push({ address: normaliseAddress(l.address), list: l.listId });
  return out;
}

/** The addresses a key's report says it would hold, for the user IDs `only` picks (all by default). */
export function claimsOfReport(r: KeyReport, only: (userId: string) => boolean = () => true): { userId: string; address: string }[] {
  return r.userIds.filter((u) => holdsAddresses(r, u) && only(u.userId))
    .flatMap((u) => addressesOfUserId(u.userId, u.email).map((address) => ({ userId: u.userId, address })));
}
