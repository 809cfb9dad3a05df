/**
 * Errors of the collection on disk, with a fixed code catalogue (the pattern
 * of src/errors.ts). Callers switch on `code`.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const COLLECTION_ERRORS = {
  COLLECTION_LOCKED: 'another process holds the collection lock',
  COLLECTION_NOT_LOCKED: 'a collection write was attempted outside Collection.apply (no lock held)',
  COLLECTION_BAD_NAME: 'a file name derived from submitted data is not acceptable',
  COLLECTION_GIT: 'a git command on the collection repository failed',
  COLLECTION_NOT_FOUND: 'the key or certificate is not in the collection',
  COLLECTION_DIRTY: 'the work tree differs from the last commit, or git left a lock file: a commit would publish what the bot did not write',
  COLLECTION_LAYOUT: 'the directory is not in a layout the bot can read',
} as const satisfies ErrorCatalogue;
export type CollectionErrorCode = keyof typeof COLLECTION_ERRORS;

export class CollectionError extends ZtrustError<CollectionErrorCode> {
  constructor(code: CollectionErrorCode, message: string, options?: { cause?: unknown }) {
    super('collection', code, message, options);
  }
}
