/**
 * Errors of durable file writes and lock files, with a fixed code catalogue
 * (the pattern of src/errors.ts). The collection and the log translate them
 * to their own codes at their boundary; callers switch on `code`.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const FS_ERRORS = {
  FS_IO: 'a file could not be written, renamed or synced',
  FS_LOCKED: 'a live process on this host holds the lock',
  FS_LOCKED_ELSEWHERE: 'a process on another host holds the lock; it is never broken automatically',
  FS_LOCK_DAMAGED: 'the lock file cannot be read as a lock record; it is never broken automatically',
} as const satisfies ErrorCatalogue;
export type FsErrorCode = keyof typeof FS_ERRORS;

export class FsError extends ZtrustError<FsErrorCode> {
  constructor(code: FsErrorCode, message: string, options?: { cause?: unknown }) {
    super('fs', code, message, options);
  }
}
