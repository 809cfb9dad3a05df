/**
 * Change requests: what the apply step (the single writer of the collection
 * and the log) is asked to do. A change comes from an approved ticket or, for
 * UPDATE KEY that only adds and for REVOKE KEY, straight from the message.
 * The payload is JSON in the store; it holds the exact data approved, never
 * a reference to something that could change in between.
 */
import type { LogEntry } from '../tlog/entry.js';
import type { ChangeKind } from '../store/types.js';
import type { ChangePayload } from '../tickets/payload.js';
import type { LoadedConfig } from '../config/load.js';
import type { StateStore, ChangeRow } from '../store/types.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { Logger } from '../logger.js';

export type { ChangeKind };

export type { ChangePayload };

export function parsePayload(json: string): ChangePayload {
  const p = JSON.parse(json) as ChangePayload;
  if (!p || typeof p !== 'object' || !['add-key', 'update-key', 'revoke-key', 'add-cert', 'add-source-key', 'add-source-release', 'root'].includes(p.kind)) {
    throw new Error(`not a change payload: ${json.slice(0, 80)}`);
  }
  return p;
}

/**
 * The seam to the transparency log: append one entry and return its index,
 * or null when no log is configured. The apply step calls it before the
 * collection commit (the index goes into the commit trailer
 * `Ztrust-Log-Index`) and remembers the index in the store; an implementation
 * should treat a second call with the same `changeId` as the same entry
 * (a crash between the append and that record would otherwise log it twice).
 */
export type LogAppend = (entry: LogEntry, changeId: string) => Promise<number | null>;

export interface ApplyDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  policy: CryptoPolicy;
  logger: Logger;
  /** The transparency log seam; null or absent: no log configured. */
  logAppend?: LogAppend | null;
  /**
   * ATTEST requests (change kind `attest`): they write no collection file,
   * only log entries, so the log service applies them
   * (src/changes/attest-apply.ts). Absent: such a change fails.
   */
  applyAttestation?: ((row: ChangeRow) => Promise<ApplyOutcome>) | null;
  now?: () => Date;
}

export interface ApplyOutcome {
  state: 'applied' | 'failed' | 'skipped';
  /** Notices recorded in the outbox (to enqueue for sending). */
  outboxIds: string[];
  commit: string | null;
  logIndex: number | null;
  /** Why the change failed, or why it was skipped. */
  detail?: string;
}
