/**
 * Errors of the trust root (root/<version>.txt and its approvals), with a
 * fixed code catalogue (the pattern of src/errors.ts). Callers switch on `code`.
 */
import { ZtrustError, type ErrorCatalogue } from '../errors.js';

export const ROOT_ERRORS = {
  ROOT_MALFORMED: 'a root document is not in the canonical form, or a field is not valid',
  ROOT_CHAIN: 'a root version does not follow the one before it (version number, previous digest, or a pinned root that differs from the published one)',
  ROOT_THRESHOLD: 'a root version is not approved by the threshold of the maintainers who must approve it',
  ROOT_ROLLBACK: 'the published root is older than a root already trusted',
  ROOT_EXPIRED: 'the current root has expired',
} as const satisfies ErrorCatalogue;
export type RootErrorCode = keyof typeof ROOT_ERRORS;

export class RootError extends ZtrustError<RootErrorCode> {
  constructor(code: RootErrorCode, message: string, options?: { cause?: unknown }) {
    super('root', code, message, options);
  }
}
