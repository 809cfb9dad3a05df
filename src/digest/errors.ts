/**
 * Errors of the digest: building, storing, distributing and checking one.
 * Fixed code catalogue, the pattern of src/errors.ts.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const DIGEST_ERRORS = {
  DIGEST_LOG: 'the transparency log could not be read, or does not match the previous digest',
  DIGEST_MALFORMED: 'a digest text is not in the digest format',
  DIGEST_ARCHIVE: 'a stored digest in <data>/digests could not be read or written',
  DIGEST_FORMAT: 'a digest would break the 72-column plain-ASCII rule (a template edit?)',
} as const satisfies ErrorCatalogue;
export type DigestErrorCode = keyof typeof DIGEST_ERRORS;

export class DigestError extends ZtrustError<DigestErrorCode> {
  constructor(code: DigestErrorCode, message: string, options?: { cause?: unknown }) {
    super('digest', code, message, options);
  }
}
