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

/**
 * The largest entry a C2SP entry bundle can carry: each entry has a 2-byte
 * big-endian length prefix. A format bound, not a choice: the configurable
 * `maxLogEntryBytes` may be lower, never higher (config/schema.ts).
 */
export const MAX_LOG_ENTRY_BYTES = 0xffff;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxMessageBytes: 1024 * 1024,
  maxKeyBytes: 256 * 1024,
  maxUserIds: 32,
  maxCertifications: 256,
  maxAttestLines: 1000,
  maxDecompressedBytes: 4 * 1024 * 1024,
  maxRepliesPerSenderPerHour: 20,
  maxRepliesPerHour: 500,
  maxLogEntryBytes: MAX_LOG_ENTRY_BYTES,
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
  LIMIT_PARSE_TIME: 'mailparser did not finish reading the message in time',
  LIMIT_PROCESS_TIME: 'the message was not processed in time; it stays queued and is tried again',
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

/**
 * `work`'s outcome, or a LimitError (`code`, limit `ms`) once `ms` have
 * passed without one. The work is not stopped (JavaScript cannot stop it):
 * its outcome is dropped, and the caller's slot, or process, is free.
 */
export async function beforeDeadline<T>(work: Promise<T>, ms: number, code: LimitErrorCode): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new LimitError(code, ms, ms)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Which hourly reply budget is spent: the sender's own, or the global one. */
export type BudgetSpent = 'sender' | 'global';

/** The outcome recorded for a request whose reply was dropped (counted by this prefix). */
export function limitedOutcome(spent: BudgetSpent, outcome: string): string {
  return `${spent === 'global' ? 'rate-limited-global' : 'rate-limited'}:${outcome}`;
}

/**
 * THE message-size check, the one every reader of a message uses (IMAP and
 * Maildir intake before they read the source, the dispatcher, verifyMail,
 * check-mail): over the limit when the size (the size the mailbox declared,
 * else the bytes held) is more than `maxMessageBytes`. The LimitError to
 * report, or null; an unknown size (undefined) is not over, and the reader
 * then reads at most `messageReadBytes` and checks again.
 */
export function messageSizeError(size: number | undefined, limits: Pick<Limits, 'maxMessageBytes'>): LimitError | null {
  return size !== undefined && size > limits.maxMessageBytes ? new LimitError('LIMIT_MESSAGE_SIZE', limits.maxMessageBytes, size) : null;
}

/**
 * Whether an armoured key or revocation block is too large to be read at
 * all: its armour (base64, 4/3 of the bytes, plus headers and line ends) is
 * allowed up to twice `maxKeyBytes`, the bound on the key itself. One rule
 * for the key blocks a mail carries (commands/carried.ts) and REVOKE KEY's.
 */
export function armouredKeyTooLarge(chars: number, limits: Pick<Limits, 'maxKeyBytes'>): boolean {
  return chars > limits.maxKeyBytes * 2;
}

/**
 * The most bytes of one message a reader takes when it does not know the
 * size for sure: one more than the limit, enough to see that the message is
 * over it without holding any more of it.
 */
export function messageReadBytes(limits: Pick<Limits, 'maxMessageBytes'>): number {
  return limits.maxMessageBytes + 1;
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

/**
 * How far V8 lets the worker's heap grow past what was live after the last
 * full collection before it collects again: to (1 + this / 100) times that
 * size (src/heap.ts). V8's own factor goes up to 4x when its heap limit is
 * 2 GiB or more (a machine with 8 GB of memory or more) and the heap
 * allocates fast, and the worker allocates fast (every message, reply and
 * queue job is short-lived garbage): with it, a 10,000-request backlog took
 * the heap to ~170 MB around ~42 MB live and the RSS to 315 MB, 1.25x the
 * figure at 2,500 (`npm run bench -- memory`). At 100 (twice the live
 * heap): 238 MB, 1.08x, at the same speed. 50 gave 213-217 MB but cost list
 * traffic 7-9% in collections (`npm run bench -- list --list-n 20000`:
 * 2,856-2,933 msg/s against 3,115-3,136 without the bound and 3,256 at
 * 100). A target, not a cap: a heap that really needs more still gets it.
 */
export const WORKER_HEAP_GROWING_PERCENT = 100;

/**
 * V8's heap limit from which its own growing factor may reach 4
 * (heap-controller.cc, MaxGrowingFactor; 64-bit). Below it V8's factor is
 * 1.3 to 2 already, so the bound above is set only at or over this limit
 * (src/heap.ts): a fixed 2 would raise V8's factor there, not lower it.
 */
export const V8_LARGE_HEAP_LIMIT = 2 * 1024 ** 3;

// ---------------------------------------------------------------- fixed bounds on hostile input
//
// Not configurable: each bounds the work or memory one piece of input from
// outside (a message, a command, a submitted key or name, a log fetched
// from a mirror) can cost, or the size of what the bot sends back, and each
// number says why it is that number. Going over one never crashes: the
// input is cut, counted or refused where the bound is used.

/** Bounds on reading a message before (or instead of) parsing it. */
export const MESSAGE_BOUNDS = Object.freeze({
  /**
   * Characters of a Message-ID kept for de-duplication keys. RFC 5322 sets
   * no length, but a header line is at most 998 octets; 500 keeps every real
   * id and bounds the key a forged one makes.
   */
  messageIdChars: 500,
  /**
   * Bytes of an attachment looked at to tell an OpenPGP key from other data
   * (armour header or a binary packet tag): an armour line comes first, 8 KiB
   * allows for comments and blank lines before it.
   */
  keySniffBytes: 8 * 1024,
  /** Bytes of OpenPGP data looked at to tell armour from binary: the armour line is in the first line or few. */
  armourSniffBytes: 4 * 1024,
  /**
   * Bytes of a saved file read to tell a mail from a bare proof block
   * (verify-proof): a mail's header section fits; the same bound as a header
   * section of an oversize message.
   */
  mailSniffBytes: 64 * 1024,
  /**
   * Bytes of a detached signature file read (VERIFY with a .sig/.asc
   * attached, verify-source): one signature is a few hundred bytes, a file
   * signed by several maintainers a few KiB; 64 KiB is far beyond any real one.
   */
  detachedSignatureBytes: 64 * 1024,
  /** Signature packets read from one detached signature file: upstream files carry one, rarely two or three. */
  detachedSignaturePackets: 8,
  /** Attachments of one VERIFY mail looked at for a detached signature (by name, then content). */
  signatureAttachments: 8,
  /**
   * Milliseconds mailparser may take over one message or part. It reads a
   * message of the largest size accepted in well under a second; on some
   * broken structures (an empty message/rfc822 part) it never finishes, and
   * without a deadline one such mail would hold a worker slot, or a
   * `run --once`, for ever.
   */
  parseMs: 10_000,
  /**
   * Milliseconds one attempt at a message (its dispatcher, handler and the
   * store's commit) may take. An attempt that takes more fails, and the
   * queue tries the message again with backoff, so a hang in any part
   * (mailparser's is bounded above; a git call on a locked repository, a
   * library that never settles) cannot hold a worker slot, or a
   * `run --once`, for ever. The work itself cannot be stopped: a later
   * attempt joins it (queue/inbound.ts), and it commits once if it ever
   * finishes. Processing takes milliseconds; the largest key with the most
   * certifications accepted, seconds.
   */
  processMs: 120_000,
});

/** Bounds on reading a command and its arguments from mail text. */
export const COMMAND_BOUNDS = Object.freeze({
  /**
   * Lines of text scanned for the command line: it is the first non-blank
   * line, so 200 lines only allow for the blank lines and banners that lists
   * and clients add; a huge body costs no more than that.
   */
  scanLines: 200,
  /** Characters of a line quoted back in a refusal (an unknown command): enough to recognise it, within 72 columns. */
  shownLineChars: 60,
  /** Characters of a REJECT reason kept (it goes into the ticket's closing reason and the submitter's notice). */
  rejectReasonChars: 500,
  /** Characters of an artifact name in an ATTEST line (a file name with a path; it goes into a log entry). */
  artifactNameChars: 512,
  /** Armoured key blocks read from one message (each may hold several keys): a submission has one, an update a few. */
  keyBlocks: 4,
  /** Characters of a GET KEY query quoted back in the reply. */
  queryShownChars: 100,
  /**
   * Characters of the `Checked:` note of SUBMIT SOURCE KEY (where the member
   * checked the upstream fingerprint: a URL or a few words). It goes into the
   * ticket and the maintainers' notice; a long URL fits, an essay does not.
   */
  checkedNoteChars: 300,
  /** Change lines one ROOT PROPOSE may carry: a root change is a few lines. */
  rootChangeLines: 20,
});

/** Bounds on names derived from submitted data that become file names in the collection. */
export const NAME_BOUNDS = Object.freeze({
  /** Characters of the identity part of a key file name (from a hostile user ID): the group's file names use short ones. */
  identityChars: 64,
  /** Characters of a certificate name (`SUBMIT CERT <name>`, `pki/all/<name>.crt`). */
  certNameChars: 64,
  /** RFC 5321's longest path (254 characters): a longer "address" is not one a mail server takes. */
  addressChars: 254,
  /** Characters of a release name (`openssh-9.8p1`, `SUBMIT SOURCE KEY <release>`): upstream tarball names are far shorter. */
  releaseChars: 100,
  /** Releases one SUBMIT SOURCE KEY or ADD SOURCE may name: a key signs a handful of releases at a time. */
  releasesPerRequest: 50,
  /**
   * Bytes of a pgp/for-source/ file name import keeps as the group gave it:
   * the atomic write's temp name (`.<name>.tmp-<pid>-<12 hex>`) must still
   * fit the file systems' 255.
   */
  sourceFileNameBytes: 200,
});

/** Bounds on what one reply or digest lists, so a flood of matching data cannot make a mail huge. */
export const REPLY_BOUNDS = Object.freeze({
  /** Attestations shown one by one in a VERIFY reply (the oldest first; the rest are counted). */
  verifyShown: 20,
  /** Inclusion proofs mailed with an ATTEST notice (more lines: VERIFY each). */
  attestProofs: 20,
  /** Attestations listed one by one in a digest; the rest are counted. */
  digestAttestations: 100,
  /** Keys served by one GET KEY reply. */
  getKeyMatches: 5,
  /** Problems listed when reading a damaged log; the rest are summed up in one line. */
  logProblems: 100,
  /** Characters of a user ID or address from a submitted key quoted in a refusal (an attacker chooses them). */
  quotedUserIdChars: 200,
  /** Characters of a declared charset name quoted in a verification detail. */
  quotedCharsetChars: 40,
  /** Characters of a library error message quoted in a verification detail. */
  quotedErrorChars: 300,
  /** Addresses of one key that get its expiry reminder (its user IDs' addresses, deduplicated). */
  reminderAddresses: 3,
  /** Keys (with their vouching entries and proofs) shown in a VERIFY <release> reply, the oldest vouch first. */
  sourceVouchesShown: 10,
  /** Other vouched releases of the same package suggested when VERIFY <release> finds none. */
  otherReleasesShown: 20,
  /** Vouching entries (with proofs) shown per issuer key in a VERIFY reply to a detached signature. */
  signatureVouchesShown: 10,
});

/** Bounds on transparency-log data read from disk or fetched from a mirror (the log client trusts neither), and on one append. */
export const TLOG_BOUNDS = Object.freeze({
  /** Bytes of a fetched checkpoint: a real one is a few hundred; 1 MiB leaves room for many witness cosignatures. */
  checkpointBytes: 1024 * 1024,
  /** Signatures on one signed note: Go's note package refuses more than 100; the spec requires accepting at least 16. */
  noteSignatures: 100,
  /** Hashes in one proof: a tree of at most 2^63 leaves needs at most 63 (tlog-witness says the same). */
  proofHashes: 63,
  /** Tile levels the tlog-tiles spec allows: 0..63. */
  tileLevel: 63,
  /**
   * Bounds of one group commit in the log service's writer (the first
   * request is always taken whole): enough to amortise the fsyncs, small
   * enough that one append's tiles and bundles stay a few MiB in memory.
   */
  groupMaxEntries: 10_000,
  groupMaxBytes: 8 * 2 ** 20,
});

/** Bounds on mailbox intake. */
export const INTAKE_BOUNDS = Object.freeze({
  /**
   * The slowest download rate a message fetch is given time for, on top of
   * the IMAP command timeout (a 1 MiB message: 10 s + 16 s): a server that
   * trickles a message cannot hold the intake longer than that.
   */
  minFetchBytesPerSecond: 64 * 1024,
  /**
   * Messages fetched by one IMAP command, and spooled and queued together:
   * one round trip, one queue write for the lot instead of one per message
   * (a first start on a list mailbox with years of traffic). Bounded so that
   * a batch's bytes stay small in memory and a crash re-fetches little.
   */
  fetchBatchMessages: 200,
  /**
   * ... and the bytes of one batch, by the server's sizes: RFC822.SIZE for
   * a message over fetchBatchBytes / fetchBatchMessages (a UID SEARCH
   * LARGER finds them), that share for every other (an upper bound).
   */
  fetchBatchBytes: 8 * 1024 * 1024,
  /**
   * New UIDs whose sizes are bounded together, ahead of fetching them (one
   * UID SEARCH LARGER for the window, RFC822.SIZE only for the messages it
   * finds: queue/intake/imap.ts, fetchAhead). In windows, not all at once:
   * with years of list traffic waiting, asking every size first held the
   * first message back for seconds and kept the whole list in memory. The
   * first window is one fetch batch (fetchBatchMessages), so the first
   * message comes sooner.
   */
  sizeWindowMessages: 1000,
});

/** Bounds on the published trust root (root/ in a collection someone hands a verifier). */
export const ROOT_BOUNDS = Object.freeze({
  /** Bytes of one root file (a document, an approval, its signature): a root is under 2 KiB, an approval a few. */
  fileBytes: 256 * 1024,
  /** Files in one root/<version>.sig/ folder: one or two per maintainer. */
  approvalFiles: 200,
});

/** Bounds on the threads that check request signatures (queue/verify-pool.ts). */
export const VERIFY_THREAD_BOUNDS = Object.freeze({
  /**
   * Threads when the config does not say: one per core but the main
   * thread's, at most this many (the main thread's other work keeps more
   * from being busy).
   */
  defaultMaxThreads: 4,
  /**
   * A thread's young generation, in MiB (V8's default is 16 a semi-space):
   * a thread allocates little that lives, and each thread's heap adds to
   * the worker's peak memory (README, performance: at most 300 MB through a
   * backlog). Measured at 3,000 requests: 4, 8 and 16 gave 276, 282 and
   * 287 MB, and 8 no less throughput than 16.
   */
  youngGenerationMb: 8,
  /**
   * A thread that stopped is replaced after `restartDelayMs`, unless
   * `maxRestarts` were started within `restartWindowMs`: a thread that
   * cannot even start (a broken install) is not started every second, and
   * meanwhile the worker checks every signature itself, only slower; the
   * next thread starts when the oldest of those restarts leaves the window.
   */
  restartDelayMs: 1_000,
  maxRestarts: 5,
  restartWindowMs: 3_600_000,
  /**
   * How long a thread may take to answer one message: far past what a
   * check takes (milliseconds), well inside a message's processing bound
   * (MESSAGE_BOUNDS.processMs). A thread that has not answered is stopped
   * (and replaced), and the message fails for now (QUEUE_VERIFY_TIME) and
   * is tried again by the inbound queue: it is not checked in the main
   * thread, where whatever held the thread would hold the whole worker.
   */
  answerMs: 30_000,
});

/** Bounds on sending the outbox (src/store/claim.ts). */
export const OUTBOX_BOUNDS = Object.freeze({
  /**
   * How long a claim to send a row holds while its owner still runs: far
   * past what a send may take (sendMs below bounds opening the connection
   * and the mail alike), short enough that a row claimed by a
   * process that cannot be seen (another host or container) or whose pid
   * was reused is sent again the same hour.
   */
  claimHoldsMs: 15 * 60_000,
  /**
   * One SMTP exchange at most (queue/smtp-pool.ts): opening a connection
   * (TCP, greeting, EHLO, TLS, AUTH), or one mail over it. nodemailer's
   * timeouts bound only silence, and a server that trickles a byte now and
   * then would hold a send slot, and a stop, for ever. Well inside
   * claimHoldsMs, so a row is never claimed by a send still under way.
   */
  sendMs: 5 * 60_000,
  /**
   * After a connection to the SMTP server could not be opened, the next
   * attempt waits this long, doubling with each failure in a row up to
   * reopenDelayMaxMs: a relay that refuses for a moment (421 at the
   * greeting) fails one send, not every reply waiting for a connection.
   */
  reopenDelayMs: 100,
  reopenDelayMaxMs: 5_000,
  /**
   * Replies that wait in the worker for a send slot (queue/outbound.ts,
   * FreshSender); more go to the outbound queue. Their rows are in the
   * store; this bounds only the ids held in memory while a relay is slow.
   */
  freshWaiting: 1000,
});

/** Bounds on the SQLite state store's write-ahead log (src/store/checkpoints.ts). */
export const STORE_BOUNDS = Object.freeze({
  /**
   * How often the worker's checkpoint thread looks for new commits to copy
   * from the write-ahead log into the database file (a PASSIVE checkpoint:
   * writers are never blocked, so a busy store is copied up to about its
   * last commit each time).
   */
  checkpointEveryMs: 100,
  /**
   * Pages of write-ahead log after which the worker's own connection
   * checkpoints: what the thread left (at most the commits of its last
   * tick) is copied, and the log starts again from the beginning. SQLite
   * does this at 1,000 pages without the thread. In a backlog this is how
   * the log restarts, about 40 MB (some 280 messages) apart; it can run
   * past it while the thread's checkpoint holds the lock (twice this was
   * seen under a synthetic stream of 140 KB commits).
   */
  walBackstopPages: 10_000,
  /**
   * Bytes the write-ahead log file is cut back to when the log restarts
   * (journal_size_limit): without it the file stays at its largest size
   * until the store is closed.
   */
  walKeepBytes: 8 * 1024 * 1024,
});

/** Bounds on the watch alerts (src/watch/alerts.ts). */
export const WATCH_BOUNDS = Object.freeze({
  /** Log entries one scan reads: a first scan after a large import is spread over several runs. */
  entriesPerScan: 5000,
});
