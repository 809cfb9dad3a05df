/**
 * What the collection command handlers share: reading the collection,
 * refusals that name the rule and the fix, the maintainers' addresses.
 */
import { existsSync } from 'node:fs';
import * as openpgp from 'openpgp';
import type { LoadedConfig } from '../config/load.js';
import { Collection } from '../collection/collection.js';
import { emailOfUserId } from '../pgp/addresses.js';
import { fingerprintOf, inspectKey, keyIdOf } from '../pgp/inspect.js';
import type { Keyring } from '../pgp/keyring.js';
import type { CryptoPolicy } from '../policy/index.js';
import { render } from '../templates.js';
import { contentValue } from '../tickets/ticket.js';
import type { CommandResult } from './types.js';
import { dataLayout } from '../datadir.js';

/** Armour without Version/Comment headers, so equal keys give equal text. */
export const ARMOR_CONFIG = { ...openpgp.config, showVersion: false, showComment: false } as openpgp.Config;

export function collectionDir(cfg: LoadedConfig): string {
  return dataLayout(cfg.dataDir).collection;
}

/** The collection, read-only (handlers never write: the apply step does); null before the first import. */
export async function readCollection(cfg: LoadedConfig): Promise<Collection | null> {
  const dir = collectionDir(cfg);
  if (!existsSync(dir)) return null;
  return Collection.open(dir, { readOnly: true });
}

/** Every refusal: the rule, what was found, how to fix it; Status: error; nothing changed. */
export function refused(command: string, rule: string, reason: string, fix: string, notes: string[] = []): CommandResult {
  return {
    status: 'error',
    body: render('refused', { command, rule, reason, fix, notes }),
    outcome: `${command}:refused:${rule}`,
  };
}

/** A key as people recognise it: key id and its first self-signed user ID (made safe for mail). */
export async function describeKey(key: openpgp.Key, policy: CryptoPolicy, now: Date): Promise<string> {
  const r = await inspectKey(key, { collection: [], policy, now });
  const uid = r.userIds.find((u) => u.primary && u.selfSigned) ?? r.userIds.find((u) => u.selfSigned && !u.attribute) ?? r.userIds[0];
  return uid ? `0x${keyIdOf(key)} ${contentValue(uid.userId)}` : `0x${keyIdOf(key)}`;
}

export interface MaintainerContact {
  fingerprint: string;
  keyId: string;
  address: string | null;
  /** Why no notice can be sent, when address is null. */
  problem: string | null;
}

/**
 * The maintainers (config fingerprints) and where to write to them: the
 * address of a current self-signed user ID of their key in the collection.
 * Identity comes from the key, never from a mail header.
 */
export async function maintainerContacts(cfg: LoadedConfig, keyring: Keyring, policy: CryptoPolicy, now: Date): Promise<MaintainerContact[]> {
  const out: MaintainerContact[] = [];
  for (const fpr of cfg.maintainers) {
    const key = keyring.findByFingerprint(fpr);
    if (!key || fingerprintOf(key) !== fpr) {
      out.push({ fingerprint: fpr, keyId: fpr.slice(-16).toLowerCase(), address: null, problem: 'its key is not in the collection' });
      continue;
    }
    const r = await inspectKey(key, { collection: [], policy, now });
    const uids = r.userIds.filter((u) => u.selfSigned && !u.revoked && !u.attribute);
    const ordered = [...uids.filter((u) => u.primary), ...uids.filter((u) => !u.primary)];
    const address = ordered.map((u) => emailOfUserId(u.userId)).find((e): e is string => !!e && /^[^\s@<>]+@[^\s@<>]+$/.test(e)) ?? null;
    out.push({ fingerprint: fpr, keyId: r.keyId, address: address?.toLowerCase() ?? null,
      problem: address ? (r.revoked ? 'its key is revoked' : null) : 'its key has no self-signed user ID with a mail address' });
  }
  return out;
}

export function isMaintainer(cfg: LoadedConfig, fingerprint: string | null): boolean {
  return fingerprint !== null && cfg.maintainers.includes(fingerprint.toUpperCase());
}
