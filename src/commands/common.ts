/**
 * What the collection command handlers share: reading the collection,
 * refusals that name the rule and the fix. (The maintainers' addresses are
 * src/outbound/recipients.ts.)
 */
import { existsSync } from 'node:fs';
import * as openpgp from 'openpgp';
import type { LoadedConfig } from '../config/load.js';
import { Collection } from '../collection/collection.js';
import { inspectKey, keyIdOf } from '../pgp/inspect.js';
import type { CryptoPolicy } from '../policy/index.js';
import { render } from '../templates.js';
import { contentValue } from '../text/value.js';
import type { CommandResult } from './types.js';
import { dataLayout } from '../datadir.js';

export { ARMOR_CONFIG } from '../collection/collection.js';

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

export function isMaintainer(cfg: LoadedConfig, fingerprint: string | null): boolean {
  return fingerprint !== null && cfg.maintainers.includes(fingerprint.toUpperCase());
}
