/**
 * The transparency log's error class and its fixed code catalogue, following
 * the pattern of src/errors.ts: callers switch on `code`, never on message
 * text. Oversized entries are not here: they are LimitError LIMIT_LOG_ENTRY
 * from src/limits.ts, like every other size limit.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const TLOG_ERRORS = {
  TLOG_ENTRY_INVALID: 'a log entry is not a valid canonical ztrust log entry',
  TLOG_KEY_INVALID: 'a signed-note key is malformed or its key ID does not match',
  TLOG_NOTE_MALFORMED: 'a signed note is not well formed',
  TLOG_NOTE_SIGNATURE: 'a signed note carries no valid signature by the trusted key',
  TLOG_CHECKPOINT_MALFORMED: 'a checkpoint body is not well formed',
  TLOG_PROOF_MALFORMED: 'a proof block is not well formed',
  TLOG_PROOF_INVALID: 'a proof does not verify against the signed checkpoint',
  TLOG_TILE_MALFORMED: 'a tile, entry bundle or tile path is not well formed',
  TLOG_RANGE: 'an index or tree size is outside the log',
  TLOG_LOCKED: 'another process holds the log lock',
  TLOG_CORRUPT: 'the log directory does not match its checkpoint',
  TLOG_ORIGIN: 'the log origin does not match the log key',
  TLOG_POISONED: 'an earlier append failed part-way; reopen the log before appending again',
  TLOG_CLOSED: 'the log has been closed',
  TLOG_FETCH: 'a log resource could not be fetched',
} as const satisfies ErrorCatalogue;
export type TlogErrorCode = keyof typeof TLOG_ERRORS;

export class TlogError extends ZtrustError<TlogErrorCode> {
  constructor(code: TlogErrorCode, message: string, options?: { cause?: unknown }) {
    super('tlog', code, message, options);
  }
}
