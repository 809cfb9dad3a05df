/**
 * What a command handler receives and returns. Handlers are pure domain
 * code: they read state through the context and describe the replies and
 * state changes they want; dispatch records those in one store transaction.
 */
import type { ParsedMail } from 'mailparser';
import type { MailHeaders } from '../mail/parser.js';
import type { LoadedConfig } from '../config/load.js';
import type { MailAttachment, ReplyStatus } from '../mail/compose.js';
import type { MailVerification } from '../mail/verify-mail.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { Keyring } from '../pgp/keyring.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { SignatureUse, StateStore, StoreEffect } from '../store/types.js';
import type { MailVerifier } from '../mail/verify-mail.js';
import type { Logger } from '../logger.js';
import type { CausedNotice } from '../outbound/reply.js';
import type { ParsedCommand, CommandName } from './parse.js';

export interface CommandRequest {
  command: ParsedCommand;
  verification: MailVerification;
  /** Fingerprint of the key whose signature verified (verdict good), else null. */
  signer: string | null;
  /** The message's header section, parsed (no body: see `body`). */
  mail: MailHeaders;
  /**
   * The whole message parsed by mailparser (text, attachments), made on the
   * first call. Commands whose spec says `readsAttachments` have it ready
   * (the dispatcher answered "malformed" if mailparser could not read it).
   */
  body(): Promise<ParsedMail>;
  sender: string;
  raw: Buffer;
  spoolKey: string;
  /** SHA-256 hex of the raw message: the "source" of log entries. */
  sourceDigest: string;
  now: Date;
}

/** A notice a command causes for someone other than its sender (sent through src/outbound/reply.ts). */
export type ExtraMail = CausedNotice;

export interface CommandResult {
  status: ReplyStatus;
  /** Machine-readable lines after Status: (Ticket, Ticket-Digest, Log-Index...), in order. */
  fields?: Record<string, string>;
  /** The prose, rendered from templates/. */
  body: string;
  /** Further mails (e.g. notices to maintainers). */
  extra?: ExtraMail[];
  /** Files signed with the direct reply (PGP/MIME replies only: the text must carry what an inline reply needs). */
  attachments?: MailAttachment[];
  /** Outcome recorded in the store (defaults to `command:<status>`). */
  outcome?: string;
  /** State changes (tickets, votes, change requests), recorded with the outcome and the replies in one transaction. */
  effects?: StoreEffect[];
  /** Further signatures to record as used (e.g. a revocation certificate's), beside the mail's own. */
  signatures?: SignatureUse[];
}

export interface HandlerContext {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  keyring: Keyring;
  policy: CryptoPolicy;
  logger: Logger;
  /**
   * The check of a request's signature with this context's keyring, policy
   * and limits, where the worker runs it (queue/verify-pool.ts); verifyMail
   * in this thread when absent.
   */
  verify?: MailVerifier;
}

export type Handler = (req: CommandRequest, ctx: HandlerContext) => Promise<CommandResult>;
export type HandlerTable = Partial<Record<CommandName, Handler>>;
