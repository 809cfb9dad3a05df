/**
 * Errors of the log service (the bot's use of the transparency log), with a
 * fixed code catalogue following src/errors.ts. Faults of the log itself
 * (corrupt tiles, bad proofs, the directory lock) stay TlogError.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const LOG_SERVICE_ERRORS = {
  LOG_CONFIG: 'the log configuration does not match the log key or directory',
  LOG_INDEX: 'entries reached the log but the index in the state store could not be updated',
  LOG_KEY_REUSED: 'an idempotency key was used again for a different number of entries',
  LOG_NO_CHECKPOINT: 'the log has not signed a checkpoint at that tree size',
  LOG_RECOVERY: 'an interrupted append could not be matched against the log',
  LOG_CLOSED: 'the log was closed: this process is stopping',
} as const satisfies ErrorCatalogue;
export type LogServiceErrorCode = keyof typeof LOG_SERVICE_ERRORS;

export class LogServiceError extends ZtrustError<LogServiceErrorCode> {
  constructor(code: LogServiceErrorCode, message: string, options?: { cause?: unknown }) {
    super('log', code, message, options);
  }
}
