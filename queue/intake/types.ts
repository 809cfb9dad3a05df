/** A mailbox source: IMAP or Maildir. */
export interface Intake {
  readonly where: string;
  /** Fetch everything new once, spool and enqueue it; returns how many messages were queued. */
  drainOnce(): Promise<number>;
  /** Keep watching (IMAP IDLE plus a safety poll, or a Maildir poll) until stop(). */
  start(): void;
  stop(): Promise<void>;
}

export interface IntakeSink {
  /**
   * Durably record and enqueue messages, in mailbox order (a batch from one
   * fetch). Resolves only when every one is both in the store and accepted
   * by the queue: the mailbox cursor may then advance past the last.
   */
  accept(msgs: IntakeMessage[]): Promise<void>;
}

export interface IntakeMessage {
  mailbox: string;
  uidValidity: number;
  uid: string;
  /** The message, or only its header section when `declaredSize` is set. */
  raw: Buffer;
  /**
   * Set only when the message is larger than `limits.maxMessageBytes`: its
   * size as the mailbox reports it (IMAP RFC822.SIZE, the Maildir file size).
   * The message was then not downloaded and `raw` holds only its header
   * section (at most MAX_HEADER_SECTION_BYTES), enough to answer "too large"
   * through the usual never-answer rules and rate limit.
   */
  declaredSize?: number;
}
