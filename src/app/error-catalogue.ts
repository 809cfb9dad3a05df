/**
 * The one list of every error code the bot raises, with its one-line
 * description (nodemailer's pattern: a code a user or operator can look up).
 * Each domain keeps its catalogue beside its error class; this module only
 * gathers them, because src/errors.ts cannot import the domain modules (they
 * extend its ZtrustError, an import cycle). A code in two domains, a code
 * raised but missing here, or a code here never raised fails
 * test/unit/error-catalogue.test.ts.
 */
import { COLLECTION_ERRORS } from '../collection/errors.js';
import { DIGEST_ERRORS } from '../digest/errors.js';
import { CONFIG_ERRORS, PGP_ERRORS, QUEUE_ERRORS, STORE_ERRORS, TICKET_ERRORS, TRANSPORT_ERRORS, type ErrorCatalogue } from '../errors.js';
import { FS_ERRORS } from '../fsync/errors.js';
import { LIMIT_ERRORS } from '../limits.js';
import { LOG_SERVICE_ERRORS } from '../ledger/errors.js';
import { ROOT_ERRORS } from '../root/errors.js';
import { STATE_ERRORS } from '../state/errors.js';
import { TLOG_ERRORS } from '../tlog/errors.js';

/** Each domain (the `domain` of its errors) and its catalogue. */
export const DOMAIN_CATALOGUES: Readonly<Record<string, ErrorCatalogue>> = Object.freeze({
  config: CONFIG_ERRORS,
  pgp: PGP_ERRORS,
  store: STORE_ERRORS,
  ticket: TICKET_ERRORS,
  queue: QUEUE_ERRORS,
  transport: TRANSPORT_ERRORS,
  limit: LIMIT_ERRORS,
  collection: COLLECTION_ERRORS,
  digest: DIGEST_ERRORS,
  log: LOG_SERVICE_ERRORS,
  state: STATE_ERRORS,
  tlog: TLOG_ERRORS,
  fs: FS_ERRORS,
  root: ROOT_ERRORS,
});

/** Every code, with its description. */
export const ERROR_CATALOGUE: ErrorCatalogue = Object.freeze(Object.assign({}, ...Object.values(DOMAIN_CATALOGUES)) as Record<string, string>);
