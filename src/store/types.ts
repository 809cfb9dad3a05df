/**
 * The state store contract. One interface, so a PostgreSQL backend can follow
 * SQLite; test/unit/store-contract.test.ts is the suite every backend must
 * pass. Methods are async even though better-sqlite3 is synchronous, so the
 * contract does not change when a networked backend arrives.
 *
 * The store is the authority on what was received, processed and sent: Redis
 * only carries job ids pointing here, so a lost queue can be rebuilt
 * (`pendingSpool`, `pendingOutbox`).
 */

export interface SpoolRecord {
  /** Deterministic key from (mailbox, UIDVALIDITY, UID): also the inbound job id. */
  key: string;
  mailbox: string;
  uidValidity: number;
  uid: string;
  messageId: string | null;
  raw: Buffer;
  receivedAt: string;
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
}

export interface OutboxRow extends OutboxRecord {
  status: 'pending' | 'sending' | 'sent' | 'dead';
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface SignatureUse {
  /** SHA-256 of the signature packet. */
  signatureId: string;
  signer: string;
  command: string;
  spoolKey: string;
}

export interface Completion {
  spoolKey: string;
  /** De-duplication key: Message-ID, or the SHA-256 of the raw message when it has none. */
  messageKey: string;
  outcome: string;
  sender: string | null;
  command: string | null;
  verdict: string | null;
  signatures: SignatureUse[];
  outbox: OutboxRecord[];
}

export interface CompletionResult {
  /** False when the spool row was already done, or its messageKey was already processed. */
  applied: boolean;
  reason?: 'already-done' | 'duplicate-message';
  outboxIds: string[];
}

export interface Cursor {
  uidValidity: number;
  lastUid: number;
}

export interface StateStore {
  /** Insert a received message; returns false if the key was already spooled. */
  spool(rec: SpoolRecord): Promise<boolean>;
  getSpooled(key: string): Promise<SpoolRow | undefined>;
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
  /** Mark a row as being handed to the transport (before the network call). */
  markSending(id: string): Promise<void>;
  markSent(id: string): Promise<void>;
  markFailed(id: string, error: string, dead: boolean): Promise<void>;
  pendingOutbox(): Promise<string[]>;
  /** Replies addressed to `address` created since `sinceIso` (rate limiting). */
  countRepliesTo(address: string, sinceIso: string): Promise<number>;
  listOutbox(): Promise<OutboxRow[]>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  close(): Promise<void>;
}
