/**
 * The state store contract. One interface, so a PostgreSQL backend can follow
 * SQLite; test/unit/store-contract.ts is the suite every backend must
 * pass. Methods are async even though better-sqlite3 is synchronous, so the
 * contract does not change when a networked backend arrives.
 *
 * The store is the authority on what was received, processed and sent: Redis
 * only carries job ids pointing here, so a lost queue can be rebuilt
 * (`pendingSpool`, `pendingOutbox`).
 */
import type { BudgetSpent } from '../limits.js';

export interface SpoolRecord {
  /** Deterministic key from (mailbox, UIDVALIDITY, UID): also the inbound job id. */
  key: string;
  mailbox: string;
  uidValidity: number;
  uid: string;
  messageId: string | null;
  raw: Buffer;
  receivedAt: string;
  /**
   * Set when the message was over the size limit and was not fetched: its
   * size as the mailbox declared it, while `raw` holds only its header
   * section. Null or absent: `raw` is the whole message.
   */
  declaredSize?: number | null;
}

export interface SpoolRow extends SpoolRecord {
  state: 'queued' | 'done';
  outcome: string | null;
}

export interface OutboxRecord {
  /** Deterministic id (e.g. `reply:<spool key>`): also the outbound job id. */
  id: string;
  spoolKey: string | null;
  kind: 'reply' | 'notice' | 'digest';
  envelopeFrom: string;
  recipients: string[];
  messageId: string;
  raw: Buffer;
  /**
   * The hourly reply budget a direct reply is charged to (see ReplyBudget);
   * absent or null for notices, digests and other mail, which no budget limits.
   */
  budget?: string | null;
}

/**
 * An hourly budget of direct replies. `key` is `key:<fingerprint>` for a
 * request with a good signature by a collection key, else `addr:<From
 * address>`: forged unsigned mail claiming an address cannot spend the
 * budget of that address's signed requests.
 */
export interface ReplyBudget {
  key: string;
  /** Replies on this key per hour (limits.maxRepliesPerSenderPerHour). */
  perHour: number;
  /** All direct replies per hour above which this key gets none (limits.maxRepliesPerHour); null: not capped. */
  globalPerHour: number | null;
  /** Start of the hour counted (ISO-8601). */
  since: string;
}

export interface OutboxRow extends OutboxRecord {
  status: 'pending' | 'sending' | 'sent' | 'dead';
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

/** A claimed row, or why it is not this sender's to send. */
export type SendClaim =
  | { row: OutboxRow }
  | { refused: 'missing' | 'sent' | 'dead' }
  | { refused: 'held'; by: string };

export interface SignatureUse {
  /** SHA-256 of the signature packet. */
  signatureId: string;
  signer: string;
  command: string;
  spoolKey: string;
}

// ---------------------------------------------------------------- tickets

/** `add-source-key`, `add-source-release`: an upstream release-signing key, or more releases for one (pgp/for-source/). */
export type TicketKind = 'add-key' | 'update-key' | 'add-cert' | 'add-source-key' | 'add-source-release';
/**
 * pending -> approved -> applied | failed, or pending -> rejected | expired.
 * `failed`: approved, but the apply step found the change no longer fits the
 * collection (e.g. the key was added meanwhile); the reason says which.
 */
export type TicketState = 'pending' | 'approved' | 'applied' | 'rejected' | 'expired' | 'failed';

export interface NewTicket {
  /** `<prefix><6 digits>`, e.g. ZT-000042. */
  id: string;
  kind: TicketKind;
  /** Key fingerprint, or the certificate name. */
  subject: string;
  /** Fingerprint of the key that signed the submission. */
  submitter: string;
  /** Address the submitter wrote from (where notices about the ticket go). */
  requester: string;
  parentMessageId: string | null;
  /** SHA-256 of the raw submission message. */
  sourceDigest: string;
  /** The canonical content maintainers review; `digest` is its SHA-256. */
  content: string;
  digest: string;
  /** JSON change payload applied when the ticket is approved. */
  payload: string;
  createdAt: string;
  expiresAt: string;
  spoolKey: string | null;
}

export interface TicketRow extends NewTicket {
  state: TicketState;
  /** Bumped by every update: effects carry the version they were decided on (optimistic concurrency). */
  version: number;
  updatedAt: string;
  closedReason: string | null;
}

export interface VoteRecord {
  ticketId: string;
  /** Maintainer key fingerprint. */
  voter: string;
  vote: 'approve' | 'reject';
  /** The digest the maintainer signed. */
  digest: string;
  reason: string | null;
  spoolKey: string | null;
  at: string;
}

// ---------------------------------------------------------------- change requests

/** `attest`: ATTEST lines to log (no collection write; src/changes/attest-apply.ts). */
/** `root`: an approved trust-root draft to publish (src/changes/root-apply.ts). */
export type ChangeKind = 'add-key' | 'update-key' | 'revoke-key' | 'add-cert' | 'attest' | 'add-source-key' | 'add-source-release' | 'root';
export type ChangeState = 'queued' | 'applied' | 'failed';

export interface NewChange {
  /** Deterministic (`c-<ticket>` or `c-<spool key>`): also the apply job id. */
  id: string;
  kind: ChangeKind;
  ticketId: string | null;
  subject: string;
  /** JSON payload (see src/changes/types.ts). */
  payload: string;
  requester: string | null;
  parentMessageId: string | null;
  sourceDigest: string;
  /** Fingerprints of the keys whose signatures caused the change. */
  signers: string[];
  /** Maintainers whose approvals applied it. */
  approvers: string[];
  createdAt: string;
}

export interface ChangeRow extends NewChange {
  state: ChangeState;
  updatedAt: string;
  commit: string | null;
  logIndex: number | null;
  error: string | null;
}

/**
 * One ticket event as recorded: built only by `transition()` in
 * src/tickets/ticket.ts (the state machine), never by hand. The store writes
 * it only if the ticket is still at `expectVersion` in state `from`.
 */
export interface TicketUpdate {
  kind: 'ticket-update'; ticketId: string; expectVersion: number; from: TicketState;
  state?: TicketState; closedReason?: string | null; vote?: VoteRecord;
}

/**
 * State changes recorded in the same transaction as the outcome and the
 * replies they cause (Completion.effects, StateStore.commitEffects). They run
 * in order; one that cannot run (a ticket whose version moved on, a ticket id
 * already taken, a change already finished) aborts the whole transaction with
 * StoreError STORE_CONFLICT, so the caller decides again on fresh state.
 */
export type StoreEffect =
  | { kind: 'ticket-create'; ticket: NewTicket }
  | TicketUpdate
  /** Idempotent: a change with the same id is left as it is. */
  | { kind: 'change-create'; change: NewChange }
  | {
      kind: 'change-finish'; changeId: string; state: 'applied' | 'failed';
      commit: string | null; logIndex: number | null; error: string | null;
    }
  /** A subscription token (double opt-in) recorded with the reply that carries it. */
  | { kind: 'subscription-token'; token: NewSubscriptionToken }
  /**
   * Use a token: STORE_CONFLICT unless it exists, is unused and has not
   * expired at `at`. Its action is applied to its address, and every other
   * pending token for that address is used up with it (the newest
   * confirmation settles the address's state).
   */
  | { kind: 'subscription-confirm'; tokenHash: string; at: string }
  /** A root draft (src/root/): a new version awaiting approval; a pending draft of the same version is superseded. */
  | { kind: 'root-draft'; draft: NewRootDraft }
  /**
   * A maintainer's approval of a pending draft (one per key and draft; a
   * second replaces the first). `others`: the fingerprints of the draft's
   * other approvals the handler counted when it decided whether this one
   * completes the draft. STORE_CONFLICT when they changed meanwhile: two
   * approvals processed at once would each count only themselves, and a
   * draft with all its approvals would never go to the apply step. The
   * message is processed again and counts both.
   */
  | { kind: 'root-approval'; approval: RootApprovalRecord; others: string[] }
  /** The draft reached its threshold and was handed to the apply step, or was published. */
  | { kind: 'root-draft-state'; version: number; digest: string; from: RootDraftState; to: RootDraftState }
  /** WATCH: alert `address` about every log entry from `since` on that touches the key (src/watch/). Idempotent. */
  | { kind: 'watch'; watcher: WatcherRow }
  /** UNWATCH: no more alerts to `address` about the key. */
  | { kind: 'unwatch'; fingerprint: string; address: string };

/** An owner watching their key (WATCH, signed by that key). */
export interface WatcherRow {
  /** The watched key's primary fingerprint (upper case). */
  fingerprint: string;
  /** Where alerts go (lower case): the address the signed WATCH came from. */
  address: string;
  /** The log size when the watch began: older entries are not alerted. */
  since: number;
  createdAt: string;
}

// ---------------------------------------------------------------- trust root

/** pending: awaiting approvals; approved: handed to the apply step; published: in the collection; superseded: replaced by another draft. */
export type RootDraftState = 'pending' | 'approved' | 'published' | 'superseded';

export interface NewRootDraft {
  version: number;
  /** The canonical root document (src/root/document.ts). */
  text: string;
  /** Its SHA-256: what approvals name. */
  digest: string;
  /** 'operator' (the CLI) or the fingerprint of the maintainer who proposed it. */
  proposer: string;
  createdAt: string;
}

export interface RootDraftRow extends NewRootDraft {
  state: RootDraftState;
  updatedAt: string;
}

export interface RootApprovalRecord {
  version: number;
  digest: string;
  /** The approving key's primary fingerprint. */
  fingerprint: string;
  /** The approval as signed (src/root/files.ts KeptApproval): cleartext, or signed bytes and signature. */
  cleartext: string | null;
  data: Buffer | null;
  signature: Buffer | null;
  /** The approver's armoured public key at the time. */
  key: string;
  spoolKey: string | null;
  at: string;
}

// ---------------------------------------------------------------- subscriptions

export type SubscriptionAction = 'subscribe' | 'unsubscribe';

export interface NewSubscriptionToken {
  /** SHA-256 (hex) of the token: the token itself is only ever in the mail to `address`. */
  tokenHash: string;
  /** Lower-case address the token was sent to; only it can be (un)subscribed with it. */
  address: string;
  action: SubscriptionAction;
  createdAt: string;
  expiresAt: string;
  spoolKey: string | null;
}

export interface SubscriptionTokenRow extends NewSubscriptionToken {
  usedAt: string | null;
}

export interface SubscriberRow {
  address: string;
  subscribedAt: string;
}

export interface EffectsResult {
  /** Ids of the change requests the effects created (to enqueue for the apply step). */
  changeIds: string[];
  outboxIds: string[];
}

export interface Completion {
  spoolKey: string;
  /**
   * De-duplication key: the Message-ID WITH the SHA-256 of the raw message
   * (`mid:<id>#raw:<hex>`), or `sha256:<hex>` when it has none. A
   * Message-ID alone is attacker-chosen and never makes a duplicate.
   */
  messageKey: string;
  /**
   * A second key for signed mail: the Message-ID with the signature's id
   * (which covers the signed content), so a list's re-wrapped copy of the
   * same signed message is the same message. A message is a duplicate when
   * either key was processed before.
   */
  contentKey?: string | null;
  /**
   * The budget of the direct reply in `outbox` (the row with `budget` set),
   * checked again inside the transaction: messages processed at the same
   * time cannot overshoot it. When spent, that row is dropped and the
   * outcome is recorded as `rate-limited[-global]:<outcome>`.
   */
  replyBudget?: ReplyBudget;
  outcome: string;
  sender: string | null;
  command: string | null;
  verdict: string | null;
  signatures: SignatureUse[];
  outbox: OutboxRecord[];
  /** State changes the message causes (tickets, votes, change requests), in the same transaction. */
  effects?: StoreEffect[];
}

export interface CompletionResult {
  /** False when the spool row was already done, or its messageKey was already processed. */
  applied: boolean;
  reason?: 'already-done' | 'duplicate-message';
  outboxIds: string[];
  /** Set when the transaction dropped the direct reply because its budget was spent meanwhile. */
  rateLimited?: BudgetSpent;
  /** Change requests created by the effects (empty when not applied). */
  changeIds?: string[];
}

// ---------------------------------------------------------------- transparency log index

/**
 * One append the log service made or is about to make. Written (pending)
 * before the entries go to the log and marked done after, so a crash in
 * between is resolved on the next start by looking at the log itself
 * (src/ledger/service.ts); `key` makes a retried request reuse its entries.
 */
export interface LogAppendRecord {
  /** The caller's idempotency key, e.g. `attest:<source digest>` or `change:<id>`. */
  key: string;
  /** Log size when the append started: the index of its first entry. */
  fromIndex: number;
  count: number;
  /** SHA-256 (hex) over the entries' leaf hashes, to recognise them in the log. */
  entriesDigest: string;
  state: 'pending' | 'done';
  createdAt: string;
}

/** One logged attestation (the digest -> log index lookup behind VERIFY; not itself verifiable). */
export interface AttestationRecord {
  logIndex: number;
  /** `sha256:<hex>` or `sha512:<hex>`, lower case. */
  digest: string;
  /** Artifact name as attested. */
  name: string;
  /** Fingerprint of the attesting key. */
  signer: string;
  /** SHA-256 of the message that carried the attestation. */
  source: string;
  /** The entry's time (RFC 3339). */
  time: string;
}

/**
 * One release a source-signing key is vouched for (the structured index of
 * pgp/for-source/key-and-source.md, built from the log's `source-key-added`
 * and `source-release-added` entries: one record per release named).
 */
export interface SourceVouchRecord {
  logIndex: number;
  /** `<package>-<release>` as vouched, e.g. `openssh-9.8p1`. */
  release: string;
  /** The package part (src/collection/source-list.ts splitRelease), for lookups by package. */
  package: string;
  /** Fingerprint of the source-signing key. */
  fingerprint: string;
  /** Fingerprint of the member who vouched; '' for rows that came in by import. */
  voucher: string;
  /** The ticket that approved it ('import' for imported rows). */
  ticket: string;
  /** The entry's time (RFC 3339). */
  time: string;
  type: 'source-key-added' | 'source-release-added';
}

/** What a finished log append indexes beside its checkpoint. */
export interface LogIndexRows {
  attestations: AttestationRecord[];
  sourceVouches?: SourceVouchRecord[];
}

export interface Cursor {
  uidValidity: number;
  lastUid: number;
}

export interface StateStore {
  /** Insert a received message; returns false if the key was already spooled. */
  spool(rec: SpoolRecord): Promise<boolean>;
  /**
   * Insert received messages (a fetched batch) in one transaction: all or
   * none. For each, in order, whether it was new (false: its key was
   * already spooled, or appears earlier in `recs`). One commit per message
   * cost the worker as much as the insert itself.
   */
  spoolBatch(recs: readonly SpoolRecord[]): Promise<boolean[]>;
  getSpooled(key: string): Promise<SpoolRow | undefined>;
  /**
   * The state of each of `keys` that is spooled (absent keys are left out),
   * in one read: the intake asks it once for a fetched batch, where a
   * getSpooled per message (which also copies the bytes) cost 5% of the
   * worker on list traffic.
   */
  spoolStates(keys: readonly string[]): Promise<Map<string, SpoolRow['state']>>;
  /**
   * Record messages the intake triage found certain to be ignored
   * (src/commands/triage.ts) as done with `outcome`, in ONE transaction,
   * without their bytes (the mailbox keeps them; nothing will read them).
   * A key already spooled is left as it is. Returns the keys recorded now.
   */
  spoolIgnored(recs: readonly Omit<SpoolRecord, 'raw' | 'declaredSize'>[], outcome: string): Promise<string[]>;
  /** Keys of spooled messages not yet done (to re-enqueue after a restart). */
  pendingSpool(): Promise<string[]>;
  isProcessed(messageKey: string): Promise<boolean>;
  /**
   * Record the outcome of one message, the signatures it used and the replies
   * it causes, in ONE transaction. A signature already used makes the whole
   * transaction fail with StoreError STORE_CONFLICT (a concurrent replay), so
   * the caller retries and then sees the replay.
   */
  complete(c: Completion): Promise<CompletionResult>;
  isSignatureUsed(signatureId: string): Promise<boolean>;

  getCursor(mailbox: string): Promise<Cursor | undefined>;
  setCursor(mailbox: string, cursor: Cursor): Promise<void>;

  addOutbox(rows: OutboxRecord[]): Promise<void>;
  getOutbox(id: string): Promise<OutboxRow | undefined>;
  /**
   * Claim a row for `sender` (src/store/claim.ts) before handing it to the
   * transport, in one transaction: the row is marked sending, its attempt
   * counted and returned, unless it is missing, already sent, dead, or
   * being sent by another sender whose claim still holds. Two senders that
   * claim at once get one row between them.
   */
  claimSending(id: string, sender: string): Promise<SendClaim>;
  markSent(id: string): Promise<void>;
  markFailed(id: string, error: string, dead: boolean): Promise<void>;
  /**
   * Rows not sent yet (pending, or sending: under way, or cut by a crash), oldest first;
   * with `spoolKey`, only those made for that message.
   */
  pendingOutbox(spoolKey?: string): Promise<string[]>;
  /** Direct replies (kind 'reply', not notices or digests) to `address` created since `sinceIso` (rate limiting). */
  countRepliesTo(address: string, sinceIso: string): Promise<number>;
  /**
   * Whether a direct reply on this budget would go over it: 'sender' when
   * `perHour` replies were charged to `key` since `since`, 'global' when
   * `globalPerHour` direct replies were made in all; else null.
   */
  replyBudgetSpent(b: ReplyBudget): Promise<BudgetSpent | null>;
  listOutbox(): Promise<OutboxRow[]>;

  // ---- tickets and change requests
  /** The next ticket number (1, 2, ...); numbers are never reused, gaps are allowed. */
  nextTicketNumber(): Promise<number>;
  getTicket(id: string): Promise<TicketRow | undefined>;
  /** Tickets, newest first; optionally only in the given states. */
  listTickets(opts?: { states?: TicketState[] }): Promise<TicketRow[]>;
  /** Pending or approved tickets about this subject (fingerprint or certificate name). */
  openTicketsFor(subject: string): Promise<TicketRow[]>;
  /** Votes on a ticket, in the order they were cast. */
  getVotes(ticketId: string): Promise<VoteRecord[]>;
  getChange(id: string): Promise<ChangeRow | undefined>;
  /** Change requests for a ticket or every one, oldest first. */
  listChanges(opts?: { ticketId?: string; states?: ChangeState[] }): Promise<ChangeRow[]>;
  /** Ids of change requests still queued (to re-enqueue after a restart), oldest first. */
  pendingChanges(): Promise<string[]>;
  /** Remember the log index given to a queued change, so a retried apply does not log it twice. */
  setChangeLogIndex(id: string, logIndex: number): Promise<void>;
  /** Effects and the mails they cause, in one transaction (the apply step, expiry). */
  commitEffects(effects: StoreEffect[], outbox: OutboxRecord[]): Promise<EffectsResult>;

  // ---- transparency log (src/ledger/service.ts is the only caller)
  /** Record an append about to be made; STORE_CONFLICT when the key is already recorded. */
  beginLogAppend(rec: Omit<LogAppendRecord, 'state' | 'createdAt'>): Promise<void>;
  /**
   * The append is committed in the log: mark it done, index its
   * attestations and keep the signed checkpoint, in one transaction.
   * STORE_CONFLICT when the key is not pending.
   */
  finishLogAppend(key: string, done: LogIndexRows & { checkpoint: { size: number; note: string } }): Promise<void>;
  /** The append never reached the log (its checkpoint was not written): forget it. */
  abandonLogAppend(key: string): Promise<void>;
  getLogAppend(key: string): Promise<LogAppendRecord | undefined>;
  /** Appends left pending by a crash, oldest first. */
  pendingLogAppends(): Promise<LogAppendRecord[]>;
  /** Attestations of a digest (`sha256:<hex>`), in log order. */
  findAttestations(digest: string): Promise<AttestationRecord[]>;
  /**
   * Source vouches, in log order: for one release (`{ release }`, exact,
   * case-insensitive), one key (`{ fingerprint }`), or every one (`{}`).
   */
  findSourceVouches(q: { release?: string; fingerprint?: string }): Promise<SourceVouchRecord[]>;
  /** Keep a signed checkpoint (one per tree size; the first one recorded stays). */
  recordCheckpoint(size: number, note: string): Promise<void>;
  getCheckpoint(size: number): Promise<string | undefined>;
  /** Tree sizes with a recorded checkpoint, ascending. */
  checkpointSizes(): Promise<number[]>;

  // ---- digest subscriptions (src/commands/subscribe.ts, confirm.ts; src/digest/)
  getSubscriptionToken(tokenHash: string): Promise<SubscriptionTokenRow | undefined>;
  getSubscriber(address: string): Promise<SubscriberRow | undefined>;
  /** Confirmed subscribers, by address. */
  listSubscribers(): Promise<SubscriberRow[]>;

  // ---- the trust root (src/root/)
  /** The draft of `version` with this digest, or the newest draft of that version when digest is omitted. */
  getRootDraft(version: number, digest?: string): Promise<RootDraftRow | undefined>;
  /** Drafts in a state, newest version first. */
  listRootDrafts(states?: RootDraftState[]): Promise<RootDraftRow[]>;
  /** Approvals recorded for a draft, in the order they came. */
  getRootApprovals(version: number, digest: string): Promise<RootApprovalRecord[]>;

  // ---- key watchers (src/commands/watch.ts, src/watch/alerts.ts)
  listWatchers(): Promise<WatcherRow[]>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /**
   * Optional: a backend whose commits pay a periodic flush (SQLite's WAL
   * checkpoints, with their fsyncs) moves it to a thread of its own. The
   * worker calls this once at start; CLI commands do not (a thread is not
   * worth its start-up for a few writes). `onFailure` is told if the
   * thread stops; the store then flushes as it would without it.
   */
  checkpointInBackground?(onFailure: (reason: string) => void): void;

  close(): Promise<void>;
}
