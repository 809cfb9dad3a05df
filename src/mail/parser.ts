/**
 * mailparser's simpleParser, with mailparser imported on first use. It pulls
 * in html-to-text, htmlparser2, entities, linkify-it and encoding-japanese:
 * about 60 ms of module loading that a worker start should not pay before
 * its first fetch (list traffic the intake triages is never parsed), nor a
 * CLI command that never reads a mail.
 */
import type { ParsedMail, SimpleParserOptions } from 'mailparser';
import { beforeDeadline, MESSAGE_BOUNDS } from '../limits.js';

type MailParser = typeof import('mailparser');
let loading: Promise<MailParser['simpleParser']> | null = null;

async function load(): Promise<MailParser['simpleParser']> {
  // mailparser is CommonJS: Node hands its exports over as named exports,
  // the command's bundle (dist/bundle/, esbuild) as `default` only.
  const m = await import('mailparser') as MailParser & { default?: MailParser };
  const fn = m.simpleParser ?? m.default?.simpleParser;
  if (typeof fn !== 'function') throw new Error('mailparser has no simpleParser');
  return fn;
}

/**
 * A message as its header section reads: what classifying, threading and
 * reply budgets need. The body's text and attachments are not in it: the
 * dispatcher parses the body only when something reads it (the unsigned
 * text, carried keys, attachments), since a signed request's command comes
 * from verifyMail's reading of the signed part.
 */
export type MailHeaders = Omit<ParsedMail, 'text' | 'html' | 'textAsHtml' | 'attachments'>;

/**
 * mailparser's reading of `input`, or a LimitError (LIMIT_PARSE_TIME) when
 * it has not finished within `deadlineMs`: mailparser never settles on some
 * broken structures (an empty message/rfc822 part, found by an attack
 * review), and every caller treats a rejection as an unreadable message.
 */
export async function simpleParser(input: Buffer | string, options: SimpleParserOptions, deadlineMs: number = MESSAGE_BOUNDS.parseMs): Promise<ParsedMail> {
  loading ??= load();
  const parse = await loading;
  return beforeDeadline(parse(input, options), deadlineMs, 'LIMIT_PARSE_TIME');
}
