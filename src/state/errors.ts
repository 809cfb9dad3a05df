/**
 * Disagreements between the three records the bot keeps: the state store
 * (state.db), the collection (a git repository) and the transparency log.
 * A fixed code catalogue (the pattern of src/errors.ts); each finding also
 * names the file and the repair, because the operator has to act on it.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const STATE_ERRORS = {
  STATE_STORE_MISSING: 'state.db is missing or empty, but the log has entries',
  STATE_STORE_CORRUPT: 'state.db is not a readable SQLite database',
  STATE_STORE_BEHIND: 'state.db does not know entries the log holds (an old or replaced copy)',
  STATE_LOG_BEHIND: 'state.db or the collection know log entries the log does not hold (the log was rolled back)',
  STATE_LOG_DAMAGED: 'a log file does not match the signed checkpoint',
  STATE_TICKET_MISSING: 'a ticket the log names is unknown to state.db, or its counter would issue that id again',
  STATE_COLLECTION_BROKEN: 'the collection is not a readable git repository',
  STATE_COLLECTION_LOCKED: 'a git lock file is left in the collection repository',
  STATE_COLLECTION_DIRTY: 'collection files differ from the last commit',
  STATE_COLLECTION_BEHIND: 'a change the log or state.db records is not committed in the collection',
  STATE_COLLECTION_DIVERGED: 'the collection content disagrees with what the log recorded',
} as const satisfies ErrorCatalogue;
export type StateErrorCode = keyof typeof STATE_ERRORS;

export interface StateFinding {
  code: StateErrorCode;
  /** The file or directory that is wrong. */
  file: string;
  message: string;
  /** What the operator does about it. */
  repair: string;
}

export class StateError extends ZtrustError<StateErrorCode> {
  readonly findings: StateFinding[];
  constructor(findings: StateFinding[]) {
    const first = findings[0];
    super('state', first.code, findings.map(describeFinding).join('\n'));
    this.findings = findings;
  }
}

/** One line an operator reads: code, what is wrong, the file, the repair. */
export function describeFinding(f: StateFinding): string {
  return `${f.code}: ${f.message} [${f.file}]; repair: ${f.repair}`;
}
