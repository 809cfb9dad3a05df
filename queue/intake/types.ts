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
   * Durably record and enqueue one message. Resolves only when the message is
   * both in the store and accepted by the queue: the mailbox cursor may then
   * advance past it.
   */
  accept(msg: { mailbox: string; uidValidity: number; uid: string; raw: Buffer }): Promise<void>;
}
