/**
 * Error classes, one per domain, each with a fixed catalogue of codes
 * (the sigstore-js / nodemailer pattern). Callers switch on `code`, never on
 * message text; the catalogue's description is what a user or operator sees
 * when the code reaches a reply or the CLI. A catalogue lists only codes
 * that are thrown: src/app/error-catalogue.ts gathers every domain's catalogue
 * into one, and test/unit/error-catalogue.test.ts pins it against the
 * sources (every code listed is raised, every code raised is listed).
 */

export type ErrorCatalogue = Readonly<Record<string, string>>;

export class ZtrustError<C extends string = string> extends Error {
  readonly code: C;
  readonly domain: string;
  constructor(domain: string, code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.domain = domain;
  }
}

export const CONFIG_ERRORS = {
  CONFIG_NOT_FOUND: 'the configuration file does not exist or cannot be read',
  CONFIG_PARSE: 'the configuration file is not valid YAML or JSON',
  CONFIG_UNKNOWN_KEY: 'the configuration names a key that does not exist',
  CONFIG_INVALID: 'a configuration value is missing or has the wrong type or range',
  CONFIG_SECRET: 'a secret named in the configuration could not be read',
} as const satisfies ErrorCatalogue;
export type ConfigErrorCode = keyof typeof CONFIG_ERRORS;
export class ConfigError extends ZtrustError<ConfigErrorCode> {
  constructor(code: ConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super('config', code, message, options);
  }
}

export const PGP_ERRORS = {
  PGP_PARSE: 'the OpenPGP data could not be parsed',
  PGP_KEY_GEN: 'a key could not be generated or unlocked',
} as const satisfies ErrorCatalogue;
export type PgpErrorCode = keyof typeof PGP_ERRORS;
export class PgpError extends ZtrustError<PgpErrorCode> {
  constructor(code: PgpErrorCode, message: string, options?: { cause?: unknown }) {
    super('pgp', code, message, options);
  }
}

export const STORE_ERRORS = {
  STORE_OPEN: 'the state store could not be opened',
  STORE_SCHEMA: 'the state store has an unexpected schema version',
  STORE_CONFLICT: 'a record that must be unique already exists',
} as const satisfies ErrorCatalogue;
export type StoreErrorCode = keyof typeof STORE_ERRORS;
export class StoreError extends ZtrustError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super('store', code, message, options);
  }
}

export const TICKET_ERRORS = {
  TICKET_ILLEGAL_TRANSITION: 'the ticket\'s state does not allow this event (only pending tickets take votes or expire; only approved ones are applied)',
  TICKET_EXPIRED: 'the ticket is past its expiry: it takes no more votes, only expiry',
  TICKET_NOT_DUE: 'the ticket has not reached its expiry yet',
} as const satisfies ErrorCatalogue;
export type TicketErrorCode = keyof typeof TICKET_ERRORS;
/** A ticket event the state machine (src/tickets/ticket.ts transition()) refuses; nothing was written. */
export class TicketError extends ZtrustError<TicketErrorCode> {
  constructor(code: TicketErrorCode, message: string, options?: { cause?: unknown }) {
    super('ticket', code, message, options);
  }
}

export const QUEUE_ERRORS = {
  QUEUE_REDIS_START: 'the embedded redis-server could not be started',
  QUEUE_REDIS_MISSING: 'redis-server is not installed and no Redis URL is configured',
  QUEUE_CONNECT: 'the queue backend could not be reached',
  QUEUE_VERIFY_TIME: 'a signature-check thread did not answer in time',
} as const satisfies ErrorCatalogue;
export type QueueErrorCode = keyof typeof QUEUE_ERRORS;
export class QueueError extends ZtrustError<QueueErrorCode> {
  constructor(code: QueueErrorCode, message: string, options?: { cause?: unknown }) {
    super('queue', code, message, options);
  }
}

export const TRANSPORT_ERRORS = {
  TRANSPORT_SEND: 'the reply could not be handed to the outbox',
  TRANSPORT_URL: 'the outbox URL is not smtp://, smtps:// or dir:',
  INTAKE_URL: 'the mailbox URL is not imap://, imaps:// or maildir:',
  INTAKE_CONNECT: 'the mailbox could not be reached',
} as const satisfies ErrorCatalogue;
export type TransportErrorCode = keyof typeof TRANSPORT_ERRORS;
export class TransportError extends ZtrustError<TransportErrorCode> {
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super('transport', code, message, options);
  }
}

/** Human-readable text for any error, for logs and CLI output. Never includes secrets. */
export function describeError(err: unknown): string {
  if (err instanceof ZtrustError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
