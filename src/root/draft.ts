/**
 * Drafting root versions and comparing the running config with the current
 * root. The bot's side of the ceremony: `root init` drafts version 1 from
 * the config; a later version is the current root with one change applied.
 * A draft takes effect only through the maintainers' approvals
 * (src/commands/root-approve.ts, src/changes/root-apply.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DATA_NAMES } from '../datadir.js';
import type { LoadedConfig } from '../config/load.js';
import { parseRoot, rootDigest, type RootDocument } from './document.js';
import { RootError } from './errors.js';
import { parseCurrent, ROOT_CURRENT, ROOT_DIR } from './files.js';

const DAY = 86_400_000;

/** What a new version changes; everything not named stays as in the current root. */
export interface RootChange {
  addMaintainers?: string[];
  removeMaintainers?: string[];
  threshold?: number;
  botKey?: string;
  logKey?: string;
  /** Only a new validity period (the expiry moves to issued + validityDays). */
  renew?: boolean;
}

/** Version 1 from the config: its maintainers and threshold, the bot's key, the log's key and origin. */
export function firstRoot(cfg: LoadedConfig, botFingerprint: string, logVerifierKey: string, now: Date): RootDocument {
  return {
    version: 1, issued: now, expires: new Date(now.getTime() + cfg.root.validityDays * DAY),
    threshold: cfg.threshold, maintainers: cfg.maintainers, botKey: botFingerprint, logOrigin: cfg.log.origin, logKey: logVerifierKey, previous: null,
  };
}

/** The next version: the current root with `change` applied, issued now, valid for validityDays, chained to it. */
export function nextRoot(current: RootDocument, currentText: string, change: RootChange, validityDays: number, now: Date): RootDocument {
  const norm = (f: string): string => f.replace(/\s+/g, '').toUpperCase();
  const remove = new Set((change.removeMaintainers ?? []).map(norm));
  for (const f of remove) if (!current.maintainers.includes(f)) throw new RootError('ROOT_MALFORMED', `${f} is not a maintainer in root version ${current.version}`);
  const maintainers = [...new Set([...current.maintainers.filter((f) => !remove.has(f)), ...(change.addMaintainers ?? []).map(norm)])];
  return {
    version: current.version + 1, issued: now, expires: new Date(now.getTime() + validityDays * DAY),
    threshold: change.threshold ?? Math.min(current.threshold, maintainers.length), maintainers,
    botKey: change.botKey !== undefined ? norm(change.botKey) : current.botKey, logOrigin: current.logOrigin, logKey: change.logKey ?? current.logKey, previous: rootDigest(currentText),
  };
}

export interface CurrentRoot {
  doc: RootDocument;
  text: string;
  digest: string;
}

/**
 * The root the bot's own collection names as current (root/current and its
 * file), or null when the collection is unrooted. The bot wrote these files
 * after checking the approvals itself; `root verify` re-walks the chain.
 */
export function currentRootOf(collectionDir: string): CurrentRoot | null {
  const currentFile = path.join(collectionDir, ...ROOT_CURRENT.split('/'));
  if (!existsSync(currentFile)) return null;
  const cur = parseCurrent(readFileSync(currentFile, 'latin1'));
  const text = readFileSync(path.join(collectionDir, ROOT_DIR, `${cur.version}.txt`), 'latin1');
  if (rootDigest(text) !== cur.digest) throw new RootError('ROOT_CHAIN', `root/${cur.version}.txt is not the file root/current names (digest ${cur.digest})`);
  return { doc: parseRoot(text), text, digest: cur.digest };
}

/**
 * Where the config and the current root disagree on who may act, each with
 * which way to fix it. Empty when they agree. The bot refuses to run on any
 * (`run` and `root status` print them): whoever edits the config cannot
 * swap a maintainer or the bot key without the maintainers' approval.
 */
export function configMismatch(cfg: LoadedConfig, root: RootDocument, botFingerprint: string, logVerifierKey: string): string[] {
  const out: string[] = [];
  const cfgM = [...new Set(cfg.maintainers.map((f) => f.toUpperCase()))].sort();
  const extra = cfgM.filter((f) => !root.maintainers.includes(f));
  const missing = root.maintainers.filter((f) => !cfgM.includes(f));
  const fix = `either set the config back to root version ${root.version}, or have the maintainers approve a new root version with the change (ztrust-bot root propose, or ROOT PROPOSE by mail)`;
  if (extra.length) out.push(`the config names maintainer${extra.length === 1 ? '' : 's'} ${extra.join(', ')}, which root version ${root.version} does not: ${fix}`);
  if (missing.length) out.push(`root version ${root.version} names maintainer${missing.length === 1 ? '' : 's'} ${missing.join(', ')}, which the config does not: ${fix}`);
  if (cfg.threshold !== root.threshold) out.push(`the config's threshold is ${cfg.threshold}, root version ${root.version} says ${root.threshold}: ${fix}`);
  if (botFingerprint.toUpperCase() !== root.botKey) {
    out.push(`the bot's key is ${botFingerprint.toUpperCase()}, root version ${root.version} names ${root.botKey}: put that key's private key at ${DATA_NAMES.botKeyNext} in the data directory (the bot switches to it when it starts), or ${fix}`);
  }
  if (logVerifierKey !== root.logKey) out.push(`the log's key is ${logVerifierKey}, root version ${root.version} names ${root.logKey}: ${fix}`);
  return out;
}
