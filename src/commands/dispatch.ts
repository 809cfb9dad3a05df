/**
 * One received message, from raw bytes to the store transaction that records
 * its outcome and the replies it causes. No queue or network code here: the
 * queue layer calls `processMessage` and then enqueues the outbox rows it
 * returns.
 *
 * Order matters at the security boundary:
 *   1. size limit, before any parser sees the bytes;
 *   2. header-only classification (never answer robots, bounces, ourselves);
 *   3. signature verification on the RAW bytes;
 *   4. the command is read only from text the signature covers, except
 *      read-only commands, which may come unsigned;
 *   5. policy decisions (signature age, replay) kept apart from the check.
 */
import { createHash } from 'node:crypto';
import { simpleParser, type ParsedMail } from 'mailparser';
import * as openpgp from 'openpgp';
import type { LoadedConfig } from '../config/load.js';
import { composeSigned, messageIdFor, replySubject, threadReferences, type OutgoingMail, type ReplyStatus } from '../mail/compose.js';
import { classify } from '../mail/classify.js';
import { reflow, sanitizeHeaderText } from '../mail/text.js';
import { verifyMail, type MailVerification } from '../mail/verify.js';
import { judgeSignatureTime, verifyConfig } from '../pgp/policy.js';
import { Keyring } from '../pgp/keyring.js';
import { carriedKeys } from './carried.js';
import { render } from '../templates.js';
import type { Completion, OutboxRecord, SignatureUse, SpoolRow } from '../store/types.js';
import { findCommand, type ParsedCommand } from './parse.js';
import type { CommandRequest, CommandResult, ExtraMail, HandlerContext, HandlerTable } from './types.js';

export interface ProcessOutcome {
  completion: Completion;
  /** One-line summary for logs and the demo. */
  summary: string;
}

function sha256hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

function domainOf(address: string): string {
  return address.split('@')[1] ?? 'localhost';
}

/**
 * Reflow prose to 72 columns, except armoured and framed blocks
 * (`-----BEGIN X-----` to `-----END X-----`: keys, certificates, ticket
 * content), which are kept byte for byte: wrapping would break them.
 */
export function shapeProse(prose: string): string {
  const text = prose.replace(/\r\n?/g, '\n');
  const parts: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/^-----BEGIN ([A-Z0-9 ]{1,40})-----$[\s\S]*?^-----END \1-----$/gm)) {
    parts.push(reflow(text.slice(last, m.index)), m[0]);
    last = m.index + m[0].length;
  }
  parts.push(reflow(text.slice(last)));
  return parts.join('');
}

export function bodyWithStatus(status: ReplyStatus, fields: Record<string, string> | undefined, prose: string): string {
  const head = [`Status: ${status}`, ...Object.entries(fields ?? {}).map(([k, v]) => `${k}: ${v}`)];
  return `${head.join('\n')}\n\n${shapeProse(prose).trimEnd()}\n`;
}

export function messageKeyOf(mail: ParsedMail | null, raw: Buffer): string {
  const id = mail?.messageId?.trim();
  return id ? `mid:${id.slice(0, 500)}` : `sha256:${sha256hex(raw)}`;
}

/**
 * The body text as a reader sees it, with an inline-signature armour removed
 * (unverified!), so that a command inside a cleartext signature that failed
 * to verify can still be named in the error reply.
 */
export function untrustedText(text: string): string {
  const m = /-----BEGIN PGP SIGNED MESSAGE-----\r?\n(?:[A-Za-z]+: [^\n]*\r?\n)*\r?\n([\s\S]*?)\r?\n-----BEGIN PGP SIGNATURE-----/.exec(text);
  if (!m) return text;
  return m[1]!.replace(/^- /gm, '');
}

export class Dispatcher {
  constructor(
    private readonly ctx: HandlerContext,
    private readonly handlers: HandlerTable,
  ) {}

  private get config(): LoadedConfig {
    return this.ctx.config;
  }

  private async buildMail(
    id: string, parent: ParsedMail | null, to: string[], subject: string, status: ReplyStatus | undefined,
    body: string, autoSubmitted: 'auto-replied' | 'auto-generated',
  ): Promise<OutboxRecord> {
    const cfg = this.config;
    const parentId = parent?.messageId ?? null;
    const refs = parent?.references ? (Array.isArray(parent.references) ? parent.references : [parent.references]) : undefined;
    const mail: OutgoingMail = {
      from: { name: cfg.bot.name, address: cfg.bot.address },
      to,
      subject,
      messageId: messageIdFor(id, domainOf(cfg.bot.address)),
      date: new Date(),
      inReplyTo: autoSubmitted === 'auto-replied' ? parentId : null,
      references: autoSubmitted === 'auto-replied' ? threadReferences(parentId, refs, parent?.inReplyTo ?? null) : [],
      autoSubmitted,
      loopHeader: { name: cfg.bot.loopHeader, value: cfg.bot.address },
      status,
      body,
      signing: cfg.replies.signing,
    };
    const raw = await composeSigned(mail, this.ctx.signer);
    return {
      id, spoolKey: null, kind: autoSubmitted === 'auto-replied' ? 'reply' : 'notice',
      envelopeFrom: cfg.outbox.envelopeFrom ?? cfg.bot.address, recipients: to, messageId: mail.messageId, raw,
    };
  }

  /** Process one spooled message; never throws for bad input (only for infrastructure failures). */
  async processMessage(row: SpoolRow): Promise<ProcessOutcome> {
    const { config: cfg, store, logger } = this.ctx;
    const base = (mail: ParsedMail | null) => ({
      spoolKey: row.key, messageKey: messageKeyOf(mail, row.raw), sender: null as string | null,
      command: null as string | null, verdict: null as string | null, signatures: [] as SignatureUse[], outbox: [] as OutboxRecord[],
    });
    const done = (c: Completion, summary: string): ProcessOutcome => ({ completion: c, summary });

    // 1. Size first: nothing parses an oversized message.
    if (row.raw.length > cfg.limits.maxMessageBytes) {
      const sender = /^From:.*?([^\s<>"]+@[^\s<>"]+)/im.exec(row.raw.subarray(0, 16384).toString('latin1'))?.[1]?.toLowerCase() ?? null;
      const c = { ...base(null), outcome: 'too-large', sender };
      if (sender) {
        const body = bodyWithStatus('error', undefined, render('too-large', { size: row.raw.length, limit: cfg.limits.maxMessageBytes }));
        c.outbox = [await this.buildMail(`reply:${row.key}`, null, [sender], 'Re: your message to ztrust-bot', 'error', body, 'auto-replied')];
      }
      return done(c, `too large (${row.raw.length} bytes)`);
    }

    let mail: ParsedMail;
    try {
      mail = await simpleParser(row.raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, maxHtmlLengthToParse: 0 });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'unparseable message');
      return done({ ...base(null), outcome: 'malformed' }, 'malformed: not parseable');
    }

    // 2. Never answer robots, bounces, ourselves.
    const cls = classify(mail, { address: cfg.bot.address, loopHeader: cfg.bot.loopHeader });
    if (cls.ignore) return done({ ...base(mail), sender: cls.sender, outcome: `ignored:${cls.ignore}` }, `ignored (${cls.ignore})`);
    const sender = cls.sender!;

    // 3. Verify on the raw bytes.
    let verification = await verifyMail(row.raw, this.ctx.keyring, { policy: this.ctx.policy, limits: cfg.limits });
    if (verification.verdict === 'nokey') verification = await this.withCarriedKeys(row.raw, mail, verification);

    // 4. The command: from signed text if the signature verified; read-only
    //    commands may also come from unsigned text.
    // A signature inside a forwarded message (message/rfc822, message/global),
    // on an attachment or elsewhere below the top is the forwarded author's,
    // not the sender's: verifyMail says so in `authorises` (good verdict AND
    // the message itself or a list's wrapper around it).
    const good = verification.authorises;
    let command: ParsedCommand | null = good ? findCommand(verification.signedText) : null;
    if (!command) {
      // Unauthenticated text: used to run read-only commands and to tell the
      // sender which signed command failed, never to run a signed one.
      command = findCommand(untrustedText(mail.text ?? ''));
    }
    const c0 = { ...base(mail), sender, verdict: verification.verdict };

    if (!command) {
      if (cls.listTraffic || cls.bulk) return done({ ...c0, outcome: 'ignored:list-no-command' }, 'ignored (list traffic without a command)');
      return this.reply(row, mail, sender, c0, 'no-command', 'error', undefined, render('no-command', {}));
    }
    const name = command.spec.name;
    // A command outside the signed text never counts as signed.
    const signedCommand = good && findCommand(verification.signedText)?.spec.name === name;
    const signer = signedCommand ? verification.signer : null;

    if (!command.spec.unsignedOk && !signedCommand) {
      return this.reply(row, mail, sender, { ...c0, command: name }, `refused:${verification.verdict}`, 'error', undefined,
        render('signature-required', { command: name, detail: verification.detail, hint: verification.hint }));
    }

    // 5. Policy on the signature for state-changing commands.
    const signatures: SignatureUse[] = [];
    if (command.spec.stateChanging && signedCommand) {
      const created = verification.signatureCreated ?? new Date(0);
      const t = judgeSignatureTime(this.ctx.policy, created, new Date(), true);
      if (!t.ok) {
        return this.reply(row, mail, sender, { ...c0, command: name }, 'refused:signature-time', 'error', undefined,
          render('signature-refused', { command: name, reason: t.reason }));
      }
      if (verification.signatureId && await store.isSignatureUsed(verification.signatureId)) {
        return this.reply(row, mail, sender, { ...c0, command: name }, 'refused:replay', 'error', undefined,
          render('signature-refused', { command: name, reason: 'this signature was already used for an earlier request (replay)' }));
      }
      if (verification.signatureId) {
        signatures.push({ signatureId: verification.signatureId, signer: verification.signer ?? '', command: name, spoolKey: row.key });
      }
    }

    const handler = this.handlers[name];
    if (!handler) {
      return this.reply(row, mail, sender, { ...c0, command: name }, 'not-available', 'error', undefined,
        render('not-available', { command: name, botName: cfg.bot.name }));
    }
    const req: CommandRequest = {
      command, verification, signer, mail, sender, raw: row.raw, spoolKey: row.key, sourceDigest: sha256hex(row.raw), now: new Date(),
    };
    let result: CommandResult;
    try {
      result = await handler(req, this.ctx);
    } catch (err) {
      // A handler bug must not lose the message or crash the worker: the
      // sender gets an error reply, the operator gets the stack in the log.
      logger.error({ err, command: name }, 'command handler failed');
      result = { status: 'error', body: `The bot could not process your ${name} request because of an internal error. Nothing was changed. The operators have been told; please try again later.`, outcome: 'handler-error' };
    }
    const c1 = { ...c0, command: name, signatures: [...signatures, ...(result.signatures ?? [])], effects: result.effects ?? [] };
    return this.reply(row, mail, sender, c1, result.outcome ?? `${name}:${result.status}`,
      result.status, result.fields, result.body, result.extra);
  }

  /**
   * SUBMIT KEY must be signed by the key it carries (proof of possession),
   * and UPDATE KEY may be: such keys are not in the collection keyring, so
   * the signature is checked again against the keys the message carries.
   * That only proves possession of a carried key; it is used only when the
   * signed text holds the same key-carrying command (handlers that need a
   * collection key check the signer themselves).
   */
  private async withCarriedKeys(raw: Buffer, mail: ParsedMail, v: MailVerification): Promise<MailVerification> {
    const text = untrustedText(mail.text ?? '');
    const pre = findCommand(text);
    if (!pre?.spec.carriesSigningKey) return v;
    const keys = await carriedKeys(mail, text, this.config.limits);
    if (keys.length === 0) return v;
    // A carried copy of a collection key is MERGED into the collection copy,
    // never used instead of it: the merge adds a new subkey only with a valid
    // binding signature, and keeps every revocation the collection holds (a
    // copy with the revocation stripped must not make a revoked key sign).
    const known = new Map(this.ctx.keyring.all().map((k) => [k.getFingerprint().toUpperCase(), k] as const));
    for (const carried of keys) {
      const fpr = carried.getFingerprint().toUpperCase();
      const stored = known.get(fpr);
      if (!stored) continue;
      try {
        known.set(fpr, await stored.update(carried, new Date(), { ...openpgp.config, ...verifyConfig(this.ctx.policy) }));
      } catch {
        /* an unmergeable copy adds nothing */
      }
    }
    const ring = Keyring.fromKeys([...known.values(), ...keys]);
    const v2 = await verifyMail(raw, ring, { policy: this.ctx.policy, limits: this.config.limits });
    if (v2.verdict === 'nokey') return v;
    if (v2.verdict === 'good' && findCommand(v2.signedText)?.spec.name !== pre.spec.name) return v;
    return v2;
  }

  private async reply(
    row: SpoolRow, mail: ParsedMail, sender: string, c: Omit<Completion, 'outcome'>, outcome: string,
    status: ReplyStatus, fields: Record<string, string> | undefined, prose: string, extra?: ExtraMail[],
  ): Promise<ProcessOutcome> {
    const cfg = this.config;
    const since = new Date(Date.now() - 3600_000).toISOString();
    const sent = await this.ctx.store.countRepliesTo(sender, since);
    const limited = sent >= cfg.limits.maxRepliesPerSenderPerHour;
    const outbox: OutboxRecord[] = [];
    if (limited) {
      // Only the direct reply is suppressed: the command's effects (a vote,
      // a ticket) stand, and the notices it causes go to other people.
      this.ctx.logger.warn({ sender, sent }, 'reply rate limit reached: not answering');
      if (!extra?.length && !c.effects?.length) {
        return { completion: { ...c, outcome: `rate-limited:${outcome}` }, summary: `rate limited (${sender})` };
      }
    } else {
      const body = bodyWithStatus(status, fields, prose);
      const r = await this.buildMail(`reply:${row.key}`, mail, [sender], replySubject(mail.subject), status, body, 'auto-replied');
      outbox.push({ ...r, spoolKey: row.key });
    }
    for (const e of extra ?? []) {
      const b = bodyWithStatus(e.status ?? status, e.fields, e.body);
      const m = await this.buildMail(`${e.tag}:${row.key}`, mail, e.to, sanitizeHeaderText(e.subject), e.status, b, e.autoSubmitted);
      outbox.push({ ...m, spoolKey: row.key });
    }
    return {
      completion: { ...c, outcome: limited ? `rate-limited:${outcome}` : outcome, outbox },
      summary: `${c.command ?? 'no command'} -> Status: ${status}${limited ? ' (reply rate limited)' : ''}`,
    };
  }
}
