/**
 * What the VERIFY replies (by digest, by release, to a detached signature)
 * and CHECKPOINT share: where the log is, the reply when it cannot be read,
 * and a key's status today in words.
 */
import type { LoadedConfig } from '../config/load.js';
import { dataLayout } from '../datadir.js';
import { describeError } from '../errors.js';
import { isoDay, shown } from '../ledger/replies.js';
import type { KeyStanding } from '../ledger/standing.js';
import { render } from '../templates.js';
import type { CommandResult } from './types.js';

export function logDir(cfg: LoadedConfig): string {
  return dataLayout(cfg.dataDir).log;
}

export function unavailable(command: string, err: unknown): CommandResult {
  return { status: 'error', body: render('log-unavailable', { command, reason: describeError(err) }), outcome: `${command}:log-unavailable` };
}

export function statusText(s: KeyStanding): string {
  switch (s.status) {
    case 'valid': return `valid${s.expires ? `, expires ${isoDay(s.expires)}` : ', no expiry date'}`;
    case 'expired': return `expired since ${isoDay(s.since)}`;
    case 'revoked': return `REVOKED since ${isoDay(s.since)}${s.revocationReason ? ` (${shown(s.revocationReason, 80)})` : ''}`;
    case 'absent': return 'no longer in the collection';
  }
}
