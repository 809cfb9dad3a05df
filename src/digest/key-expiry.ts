/**
 * Keys of the collection that expire soon. The digest lists them, and their
 * owners get a signed reminder with how to extend the key and send it back
 * (UPDATE KEY). A key's expiry is the sooner of its primary key's and of its
 * valid subkeys' (an expired signing subkey stops signatures verifying just
 * as well). Revoked and already expired keys are left out: there is nothing
 * to remind about.
 *
 * The owner's addresses come from the key's own self-signed, unrevoked user
 * IDs (identity is the key, never a mail header), primary first, at most 3.
 */
import type * as openpgp from 'openpgp';
import type { Collection } from '../collection/collection.js';
import { emailOfUserId } from '../pgp/addresses.js';
import { inspectKey } from '../pgp/inspect.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { ExpiringKey } from './format.js';
import { REPLY_BOUNDS } from '../limits.js';

export interface ExpiringKeyInfo extends ExpiringKey {
  /** 'key', or 'subkey 0x<id>' when a subkey expires first. */
  part: string;
}

const DAY = 86_400_000;
/** A second, last reminder this close to the expiry. */
export const FINAL_REMINDER_DAYS = 7;

export async function expiringKeysOf(keys: readonly openpgp.PublicKey[], policy: CryptoPolicy, now: Date, windowDays: number): Promise<ExpiringKeyInfo[]> {
  const out: ExpiringKeyInfo[] = [];
  const horizon = now.getTime() + windowDays * DAY;
  for (const key of keys) {
    const r = await inspectKey(key, { collection: [], policy, now });
    if (r.revoked || r.expired) continue;
    let when = r.expires;
    let part = 'key';
    for (const s of r.subkeys) {
      if (!s.bound || s.revoked || s.expired || !s.expires) continue;
      if (!when || s.expires.getTime() < when.getTime()) {
        when = s.expires;
        part = `subkey 0x${s.keyId}`;
      }
    }
    if (!when || when.getTime() > horizon || when.getTime() <= now.getTime()) continue;
    const uids = r.userIds.filter((u) => u.selfSigned && !u.revoked && !u.attribute);
    const ordered = [...uids.filter((u) => u.primary), ...uids.filter((u) => !u.primary)];
    const addresses = [...new Set(ordered.map((u) => emailOfUserId(u.userId)?.toLowerCase())
      .filter((a): a is string => !!a && /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(a)))].slice(0, REPLY_BOUNDS.reminderAddresses);
    out.push({ fingerprint: r.fingerprint, keyId: r.keyId, userId: ordered[0]?.userId ?? '', expires: when, addresses, part });
  }
  return out.sort((a, b) => a.expires.getTime() - b.expires.getTime() || a.fingerprint.localeCompare(b.fingerprint));
}

/** Expiring keys of a collection directory (none when there is no collection yet). */
export async function expiringKeys(collection: Collection | null, policy: CryptoPolicy, now: Date, windowDays: number): Promise<ExpiringKeyInfo[]> {
  if (!collection) return [];
  return expiringKeysOf((await collection.keys()).map((k) => k.key), policy, now, windowDays);
}

/**
 * Which reminder is due: the first when the key enters the window, a final
 * one in its last week. The stage is part of the reminder's outbox id, so
 * each is sent once however often the digest job runs.
 */
export function reminderStage(k: ExpiringKey, now: Date): 'window' | 'final' {
  return k.expires.getTime() - now.getTime() <= FINAL_REMINDER_DAYS * DAY ? 'final' : 'window';
}

export function reminderOutboxId(k: ExpiringKey, now: Date): string {
  return `expiry-${k.fingerprint}-${k.expires.toISOString().slice(0, 10)}-${reminderStage(k, now)}`;
}
