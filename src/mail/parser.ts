/**
 * mailparser's simpleParser, with mailparser imported on first use. It pulls
 * in html-to-text, htmlparser2, entities, linkify-it and encoding-japanese:
 * about 60 ms of module loading that a worker start should not pay before
 * its first fetch (list traffic the intake triages is never parsed), nor a
 * CLI command that never reads a mail.
 */
import type { ParsedMail, SimpleParserOptions } from 'mailparser';

type MailParser = typeof import('mailparser');
let loading: Promise<MailParser> | null = null;

export async function simpleParser(input: Buffer | string, options: SimpleParserOptions): Promise<ParsedMail> {
  loading ??= import('mailparser');
  return (await loading).simpleParser(input, options);
}
