/**
 * Where the running bot stands with its trust root, for `run` (refuse to
 * start on a mismatch), `root status` and the replies that report it:
 * unrooted (no root yet: the config decides, and that is said plainly),
 * rooted (the config agrees with the current root), mismatched (the config
 * names other maintainers, threshold, bot key or log key than the root:
 * the bot refuses to run), or expired (state-changing commands are refused
 * until the maintainers renew it).
 */
import { readFileSync } from 'node:fs';
import type { LoadedConfig } from '../config/load.js';
import { dataLayout } from '../datadir.js';
import { configMismatch, currentRootOf, type CurrentRoot } from './draft.js';

export type RootStanding =
  | { state: 'unrooted' }
  | { state: 'rooted' | 'expired'; current: CurrentRoot }
  | { state: 'mismatch'; current: CurrentRoot; problems: string[] };

/** The bot's own key fingerprint and log key, as the data directory holds them. */
export function ownKeys(cfg: LoadedConfig, botFingerprint: string): { botFingerprint: string; logKey: string } {
  let text = '';
  try {
    text = readFileSync(dataLayout(cfg.dataDir).logVerifierKey, 'utf8');
  } catch {
    // No log key file: the root's log key cannot match, and that mismatch is reported.
  }
  const vkey = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? '';
  return { botFingerprint: botFingerprint.toUpperCase(), logKey: vkey };
}

export function rootStanding(cfg: LoadedConfig, botFingerprint: string, now: Date): RootStanding {
  const current = currentRootOf(dataLayout(cfg.dataDir).collection);
  if (!current) return { state: 'unrooted' };
  const own = ownKeys(cfg, botFingerprint);
  const problems = configMismatch(cfg, current.doc, own.botFingerprint, own.logKey);
  if (problems.length) return { state: 'mismatch', current, problems };
  return { state: current.doc.expires.getTime() <= now.getTime() ? 'expired' : 'rooted', current };
}
