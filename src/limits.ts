/**
 * Every size and rate limit the bot enforces, with its default and its error,
 * in one module (the imapflow pattern). Hostile input is bounded here, before
 * any parser sees it; going over a limit is a LimitError with a fixed code,
 * which handlers turn into a clear `Status: error` reply, never a crash.
 *
 * Each limit is configurable under `limits:` in the config file; the config
 * schema takes its defaults from DEFAULT_LIMITS so the two cannot drift.
 */
import { ZtrustError, type ErrorCatalogue } from './errors.js';

export interface Limits {
  /** Raw message size in bytes, as fetched from the mailbox. */
  maxMessageBytes: number;
  /** Armoured or binary OpenPGP key block in bytes. */
  maxKeyBytes: number;
  /** User IDs on one key. */
  maxUserIds: number;
  /** Third-party certifications on one key (before stripping). */
  maxCertifications: number;
  /** Lines in one ATTEST request. */
  maxAttestLines: number;
  /** Decompressed size of OpenPGP packets (compression-bomb defence). */
  maxDecompressedBytes: number;
  /**
   * Direct replies one sender may cause per hour: per signing key for
   * requests signed by a collection key, else per From address.
   */
  maxRepliesPerSenderPerHour: number;
  /**
   * Direct replies per hour, all senders together, above which mail that is
   * not signed by a collection key gets no reply (the bot's mail reputation).
   */
  maxRepliesPerHour: number;
  /** Size of one transparency-log entry (C2SP tlog-tiles: 2-byte length prefix). */
  maxLogEntryBytes: number;
  /** MIME nesting depth the splitter will descend into. */
  maxMimeDepth: number;
  /** MIME parts in one message. */
  maxMimeParts: number;
  /** PEM certificate size in bytes. */
  maxCertBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxMessageBytes: 1024 * 1024,
  maxKeyBytes: 256 * 1024,
  maxUserIds: 32,
  maxCertifications: 256,
  maxAttestLines: 1000,
  maxDecompressedBytes: 4 * 1024 * 1024,
  maxRepliesPerSenderPerHour: 20,
  maxRepliesPerHour: 500,
  maxLogEntryBytes: 65535,
  maxMimeDepth: 8,
  maxMimeParts: 64,
  maxCertBytes: 64 * 1024,
});

export const LIMIT_ERRORS = {
  LIMIT_MESSAGE_SIZE: 'the message is larger than the bot accepts',
  LIMIT_KEY_SIZE: 'the OpenPGP key block is larger than the bot accepts',
  LIMIT_USER_IDS: 'the key has more user IDs than the bot accepts',
  LIMIT_CERTIFICATIONS: 'the key carries more certifications than the bot accepts',
  LIMIT_LOG_ENTRY: 'a log entry would be larger than 64 KiB',
  LIMIT_MIME_DEPTH: 'the MIME structure is nested too deeply',
  LIMIT_MIME_PARTS: 'the message has too many MIME parts',
  LIMIT_CERT_SIZE: 'the certificate is larger than the bot accepts',
} as const satisfies ErrorCatalogue;
export type LimitErrorCode = keyof typeof LIMIT_ERRORS;

export class LimitError extends ZtrustError<LimitErrorCode> {
  readonly limit: number;
  readonly actual: number;
  constructor(code: LimitErrorCode, limit: number, actual: number) {
    super('limit', code, `${LIMIT_ERRORS[code]} (limit ${limit}, got ${actual})`);
    this.limit = limit;
    this.actual = actual;
  }
}

/** Which hourly reply budget is spent: the sender's own, or the global one. */
export type BudgetSpent = 'sender' | 'global';

/** The outcome recorded for a request whose reply was dropped (counted by this prefix). */
export function limitedOutcome(spent: BudgetSpent, outcome: string): string {
  return `${spent === 'global' ? 'rate-limited-global' : 'rate-limited'}:${outcome}`;
}

/** Throws LimitError when `actual` exceeds `limit`. */
export function enforce(code: LimitErrorCode, limit: number, actual: number): void {
  if (actual > limit) throw new LimitError(code, limit, actual);
}

/**
 * Bytes of a header section taken from a message that is over
 * `maxMessageBytes`. Such a message is never downloaded or read whole: only
 * its header section, up to this bound, is kept, so the gate can apply the
 * never-answer rules and the rate limit to a real From before it answers
 * "too large". Not configurable: it bounds what the intake holds in memory
 * for one message, whatever the configured message limit is. The
 * dispatcher parses no more than this of an oversize message either; a From:
 * after the bound is not seen, and such mail is not answered.
 */
export const MAX_HEADER_SECTION_BYTES = 64 * 1024;

/**
 * Fixed bounds on text from outside that ends up in the headers of the bot's
 * mail (not configurable: they keep every header line under RFC 5322's 998
 * octets whatever the input). Longer values are shortened (Subject, names)
 * or dropped (message ids).
 */
export const HEADER_LIMITS = Object.freeze({
  /** Characters (code points) of a Subject, after control characters are removed. */
  subjectChars: 300,
  /** Characters of a display name or an extra header value. */
  phraseChars: 200,
  extraValueChars: 900,
  /** A Message-ID in In-Reply-To/References longer than this is left out. */
  messageIdChars: 250,
  /** References kept from the parent (the newest ones). */
  references: 20,
});
