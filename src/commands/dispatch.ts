/**
 * One received message, from raw bytes to the store transaction that records
 * its outcome and the replies it causes. No queue or network code here: the
 * queue layer calls `processMessage` and then enqueues the outbox rows it
 * returns.
 *
 * Order matters at the security boundary:
 *   1. size limit, before any parser sees the bytes (of an oversize message
 *      only a bounded header prefix is parsed, for step 2 and the reply);
 *   2. header-only classification (never answer robots, bounces, ourselves);
 *   3. signature verification on the RAW bytes;
 *   4. the command is read only from text the signature covers, except
 *      read-only commands, which may come unsigned;
 *   5. policy decisions (signature age, replay) kept apart from the check.
 * Every reply goes through `reply()`, which hands it to the outbound module's
 * gate (src/outbound/reply.ts: the hourly budgets, the recipient rules,
 * framing and signing). Every scan of untrusted text here is a linear
 * line scan: a regex with a lazy `[\s\S]*?` retried from every start is
 * quadratic, and one hostile megabyte would hold the single thread.
 */
import { createHash } from 'node:crypto';
import type { ParsedMail } from 'mailparser';
import { simpleParser, type MailHeaders } from '../mail/parser.js';
import type { LoadedConfig } from '../config/load.js';
import type { MailAttachment, ReplyStatus } from '../mail/compose.js';
import { isoSeconds } from '../root/document.js';
import { rootStanding } from '../root/start.js';
import { rootVersionArg } from './root-approve.js';
import { headerSection } from '../mail/classify.js';
import { verifyMail, type MailVerification } from '../mail/verify-mail.js';
import { judgeSignatureTime, verifyConfig } from '../policy/index.js';
import { Keyring } from '../pgp/keyring.js';
import { MAX_HEADER_SECTION_BYTES, limitedOutcome, MESSAGE_BOUNDS, messageSizeError } from '../limits.js';
import { budgetKey, budgetSpent, replyBudget } from '../outbound/budget.js';
import { quietOnList, receivedMail } from '../outbound/gate.js';
import { replyMails, type CausedNotice } from '../outbound/reply.js';
import { line } from '../outbound/wording.js';
import { carriedKeys } from './carried.js';
import { render } from '../templates.js';
import type { Completion, SignatureUse, SpoolRow } from '../store/types.js';
import { botAddresses, findCommand, mustBeBound, type ParsedCommand } from './parse.js';
import type { CommandRequest, CommandResult, HandlerContext, HandlerTable } from './types.js';

export interface ProcessOutcome {
  completion: Completion;
  /** One-line summary for logs and the demo. */
  summary: string;
}

/** mailparser's options everywhere here: plain text is all the bot reads. */
const PARSE_OPTIONS = { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, maxHtmlLengthToParse: 0 } as const;

function sha256hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * De-duplication keys (Completion.messageKey, contentKey). A Message-ID is
 * chosen by whoever sends the mail, so it never makes a duplicate alone: it
 * is bound to the SHA-256 of the raw message, and for signed mail also to
 * the signature's id (which covers the signed content), so a list's copy of
 * the same signed message with other headers or a footer is the same one.
 */
export function messageKeyOf(mail: MailHeaders | null, raw: Buffer): string {
  const id = mail?.messageId?.trim();
  const digest = sha256hex(raw);
  return id ? `mid:${id.slice(0, MESSAGE_BOUNDS.messageIdChars)}#raw:${digest}` : `sha256:${digest}`;
}

export function contentKeyOf(mail: MailHeaders | null, signatureId: string | null): string | null {
  const id = mail?.messageId?.trim();
  return id && signatureId ? `mid:${id.slice(0, MESSAGE_BOUNDS.messageIdChars)}#sig:${signatureId}` : null;
}

const SIGNED_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';
const SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const ARMOUR_HEADER = /^[A-Za-z]+: /;

/**
 * The body text as a reader sees it, with an inline-signature armour removed
 * (unverified!), so that a command inside a cleartext signature that failed
 * to verify can still be named in the error reply.
 *
 * A line scan, linear in the text: a line ending in the armour start, armour
 * header lines, a blank line, then the body up to the first line starting a
 * signature block (not the line right after the blank one).
 */
export function untrustedText(text: string): string {
  const lines = text.split('\n');
  const bare = (i: number): string => (lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i]);
  let i = 0;
  while (i < lines.length) {
    if (!bare(i).endsWith(SIGNED_MESSAGE)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < lines.length && ARMOUR_HEADER.test(lines[j])) j++;
    if (j < lines.length && bare(j) === '') {
      // The first good start decides: a later start can only end at the
      // same signature lines, so if there is none there is no armour at all.
      let k = j + 2;
      while (k < lines.length && !lines[k].startsWith(SIGNATURE)) k++;
      if (k >= lines.length) return text;
      const body = lines.slice(j + 1, k).join('\n');
      return (body.endsWith('\r') ? body.slice(0, -1) : body).replace(/^- /gm, '');
    }
    // Lines i+1..j-1 are armour headers, which cannot start an armour.
    i = Math.max(j, i + 1);
  }
  return text;
}

/** A completion with nothing decided yet: no sender, command or verdict, no mail. */
function baseCompletion(row: SpoolRow, mail: MailHeaders | null): Completion {
  return {
    spoolKey: row.key, messageKey: messageKeyOf(mail, row.raw), outcome: '', sender: null, command: null, verdict: null,
    signatures: [] as SignatureUse[], outbox: [],
  };
}

export class Dispatcher {
  constructor(
    private readonly ctx: HandlerContext,
    private readonly handlers: HandlerTable,
  ) {}

  private get config(): LoadedConfig {
    return this.ctx.config;
  }

  /** Process one spooled message; never throws for bad input (only for infrastructure failures). */
  async processMessage(row: SpoolRow): Promise<ProcessOutcome> {
    const { config: cfg, store, logger } = this.ctx;
    const base = (mail: MailHeaders | null) => baseCompletion(row, mail);
    const done = (c: Completion, summary: string): ProcessOutcome => ({ completion: c, summary });

    // 1. Size first: the body of an oversized message is never parsed. IMAP
    //    intake may have kept only its header section, with the size the
    //    server declared.
    const size = row.declaredSize ?? row.raw.length;
    if (messageSizeError(size, cfg.limits)) return this.tooLarge(row, size);

    // mailparser gives up (nesting past its own bounds, broken structure):
    // the sender is still told, through the same header-only gate as an
    // oversize message, so a robot or a flood gets no more replies.
    const unparseable = (err: unknown): Promise<ProcessOutcome> => {
      logger.warn({ err: (err as Error).message }, 'unparseable message');
      return this.headerOnly(row, 'malformed', 'malformed: not parseable',
        render('malformed', { detail: line('detail-mime-unparseable', {}) }));
    };
    // The header section first (classification, threading, budgets); the
    // whole message only when something reads its body: the unsigned text,
    // carried keys, attachments. A signed request's command comes from
    // verifyMail's own reading of the signed part, so most are never parsed
    // twice. A body mailparser cannot read is "malformed" as before, once
    // something needs it.
    let mail: MailHeaders;
    try {
      mail = await simpleParser(headerSection(row.raw, row.raw.length), PARSE_OPTIONS);
    } catch (err) {
      return unparseable(err);
    }
    let parsed: Promise<ParsedMail> | undefined;
    const body = (): Promise<ParsedMail> => (parsed ??= simpleParser(row.raw, PARSE_OPTIONS));

    // 2. Never answer robots, bounces, ourselves.
    const cls = receivedMail(mail, cfg);
    if (cls.ignore) return done({ ...base(mail), sender: cls.sender, outcome: `ignored:${cls.ignore}` }, `ignored (${cls.ignore})`);
    const sender = cls.sender!;

    // 3. Verify on the raw bytes.
    let verification = this.ctx.verify
      ? await this.ctx.verify(row.raw)
      : await verifyMail(row.raw, this.ctx.keyring, { policy: this.ctx.policy, limits: cfg.limits });
    if (verification.verdict === 'nokey') verification = await this.withCarriedKeys(row.raw, body, verification);

    // 4. The command: from signed text if the signature verified; read-only
    //    commands may also come from unsigned text.
    // A signature inside a forwarded message (message/rfc822, message/global),
    // on an attachment or elsewhere below the top is the forwarded author's,
    // not the sender's: verifyMail says so in `authorises` (good verdict AND
    // the message itself or a list's wrapper around it).
    const good = verification.authorises;
    let command: ParsedCommand | null = good ? findCommand(verification.signedText, { boundTo: botAddresses(cfg) }) : null;
    if (!command) {
      // Unauthenticated text: used to run read-only commands and to tell the
      // sender which signed command failed, never to run a signed one.
      let whole: ParsedMail;
      try {
        whole = await body();
      } catch (err) {
        return unparseable(err);
      }
      command = findCommand(untrustedText(whole.text ?? ''));
    }
    // Whose hourly reply budget this spends (a collection key's own, or the
    // claimed address's): carried in the completion to every reply() below.
    const budget = replyBudget(budgetKey(sender, good ? verification.signer : null, this.ctx.keyring), cfg.limits, new Date());
    const c0 = { ...base(mail), contentKey: contentKeyOf(mail, verification.signatureId), sender, verdict: verification.verdict, replyBudget: budget };

    if (!command) {
      if (quietOnList(cls)) return done({ ...c0, outcome: 'ignored:list-no-command' }, 'ignored (list traffic without a command)');
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
    // Signed text counts only as a command to this bot when it says so (parse.ts, "Binding").
    if (signedCommand && mustBeBound(command.spec) && !command.bound) {
      return this.reply(row, mail, sender, { ...c0, command: name }, 'refused:unbound', 'error', undefined,
        render('command-unbound', { command: name, found: command.binding.found, under: command.binding.under, address: cfg.bot.address }));
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
          render('signature-refused', { command: name, reason: line('reason-replay', {}) }));
      }
      if (verification.signatureId) {
        signatures.push({ signatureId: verification.signatureId, signer: verification.signer ?? '', command: name, spoolKey: row.key });
      }
    }

    // An expired trust root stops every change but its own renewal (ROOT
    // PROPOSE, APPROVE ROOT-<n>): who may act is no longer vouched for by
    // the maintainers. So does a root the running bot's config no longer
    // matches (`run` refuses to start on one, but a root published while it
    // runs, say one adding a maintainer, takes effect only once the operator
    // updates the config): the bot must not act on a maintainer list or
    // threshold the current root no longer names.
    if (command.spec.stateChanging && name !== 'ROOT PROPOSE' && !(name === 'APPROVE' && rootVersionArg(command.args[0]) !== null)) {
      const standing = rootStanding(cfg, this.ctx.signer.fingerprint, new Date());
      if (standing.state === 'mismatch') {
        return this.reply(row, mail, sender, { ...c0, command: name }, 'refused:root-mismatch', 'error', undefined,
          render('refused', {
            command: name, rule: 'root-mismatch',
            reason: line('reason-root-mismatch', { version: standing.current.doc.version, problem: standing.problems[0].split(':')[0] }),
            fix: line('fix-root-mismatch', {}), notes: [],
          }));
      }
      if (standing.state === 'expired') {
        return this.reply(row, mail, sender, { ...c0, command: name }, 'refused:root-expired', 'error', undefined,
          render('refused', {
            command: name, rule: 'root-expired',
            reason: line('reason-root-expired', { version: standing.current.doc.version, expires: isoSeconds(standing.current.doc.expires) }),
            fix: line('fix-root-expired', {}), notes: [],
          }));
      }
    }

    // A read-only request whose reply would be dropped is not worth its
    // work (a flood of VERIFY must not cost a proof each): counted, dropped.
    if (!command.spec.stateChanging) {
      const spent = await budgetSpent(store, budget);
      if (spent) return this.dropped({ ...c0, command: name, outcome: limitedOutcome(spent, name) });
    }

    if (command.spec.readsAttachments) {
      try {
        await body();
      } catch (err) {
        return unparseable(err);
      }
    }
    const handler = this.handlers[name];
    if (!handler) {
      return this.reply(row, mail, sender, { ...c0, command: name }, 'not-available', 'error', undefined,
        render('not-available', { command: name, botName: cfg.bot.name }));
    }
    const req: CommandRequest = {
      command, verification, signer, mail, body, sender, raw: row.raw, spoolKey: row.key, sourceDigest: sha256hex(row.raw), now: new Date(),
    };
    let result: CommandResult;
    try {
      result = await handler(req, this.ctx);
    } catch (err) {
      // A handler bug must not lose the message or crash the worker: the
      // sender gets an error reply, the operator gets the stack in the log.
      logger.error({ err, command: name }, 'command handler failed');
      // The reply names no detail of the error: a message or stack can hold paths and internals.
      result = { status: 'error', body: render('handler-error', { command: name }), outcome: 'handler-error' };
    }
    const c1 = { ...c0, command: name, signatures: [...signatures, ...(result.signatures ?? [])], effects: result.effects ?? [] };
    return this.reply(row, mail, sender, c1, result.outcome ?? `${name}:${result.status}`,
      result.status, result.fields, result.body, result.extra, result.attachments);
  }

  /**
   * An oversize message: only a bounded prefix of its header section is
   * parsed, the same never-answer rules apply, and the "too large" reply
   * goes through the same gate as every reply (a bounce or a forged-From
   * flood of big mail gets no more replies than any other mail).
   */
  private tooLarge(row: SpoolRow, size: number): Promise<ProcessOutcome> {
    return this.headerOnly(row, 'too-large', `too large (${size} bytes)`,
      render('too-large', { size, limit: this.config.limits.maxMessageBytes }));
  }

  /**
   * A message whose body is not read (too large, or not parseable): its
   * header section alone decides whether it is answered (never-answer rules,
   * list traffic) and where the error reply goes, through the reply gate.
   */
  private async headerOnly(row: SpoolRow, outcome: string, summary: string, prose: string): Promise<ProcessOutcome> {
    const cfg = this.config;
    let mail: MailHeaders;
    try {
      mail = await simpleParser(headerSection(row.raw, MAX_HEADER_SECTION_BYTES), PARSE_OPTIONS);
    } catch (err) {
      this.ctx.logger.warn({ err: (err as Error).message }, 'unparseable header section');
      return { completion: { ...baseCompletion(row, null), outcome: `ignored:${outcome}-unreadable-headers` }, summary };
    }
    const cls = receivedMail(mail, cfg);
    const c = { ...baseCompletion(row, mail), sender: cls.sender };
    if (cls.ignore) return { completion: { ...c, outcome: `ignored:${cls.ignore}` }, summary: `${summary}, ignored (${cls.ignore})` };
    // A list post may carry no command, and the body is not read to find out.
    if (quietOnList(cls)) return { completion: { ...c, outcome: `ignored:list-${outcome}` }, summary: `${summary}, list traffic` };
    return this.reply(row, mail, cls.sender!, c, outcome, 'error', undefined, prose);
  }

  /** A request over its reply budget: recorded with its outcome (that is how it is counted), no reply. */
  private dropped(c: Completion): ProcessOutcome {
    this.ctx.logger.warn({ sender: c.sender, budget: c.replyBudget?.key, outcome: c.outcome }, 'reply budget spent: request counted and dropped, no reply');
    return { completion: { ...c, outbox: [] }, summary: `${c.command ?? 'no command'} -> no reply (${c.outcome.split(':')[0]})` };
  }

  /**
   * SUBMIT KEY must be signed by the key it carries (proof of possession),
   * and UPDATE KEY may be: such keys are not in the collection keyring, so
   * the signature is checked again against the keys the message carries.
   * That only proves possession of a carried key; it is used only when the
   * signed text holds the same key-carrying command (handlers that need a
   * collection key check the signer themselves).
   */
  private async withCarriedKeys(raw: Buffer, body: () => Promise<ParsedMail>, v: MailVerification): Promise<MailVerification> {
    let mail: ParsedMail;
    try {
      mail = await body();
    } catch {
      return v; // the unsigned path that follows needs the body too, and answers "malformed"
    }
    const text = untrustedText(mail.text ?? '');
    const pre = findCommand(text);
    if (!pre?.spec.carriesSigningKey) return v;
    const { keys, oversize } = await carriedKeys(mail, text, this.config.limits);
    if (keys.length === 0) {
      if (oversize.length === 0) return v;
      // Say why the carried key did not count, rather than only "not in the keyring".
      return { ...v, detail: `${v.detail}; ${render('carried-key-too-large', { size: oversize[0], limit: this.config.limits.maxKeyBytes }).trim()}` };
    }
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
        known.set(fpr, await stored.update(carried, new Date(), verifyConfig()));
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

  /**
   * Every reply and the notices a command causes go through the outbound
   * gate (src/outbound/reply.ts): the direct reply only while the request's
   * hourly budget (`c.replyBudget`: a collection key's, else the claimed
   * address's, which is also the default) and the global cap allow.
   */
  private async reply(
    row: SpoolRow, mail: MailHeaders, sender: string, c: Omit<Completion, 'outcome'>, outcome: string,
    status: ReplyStatus, fields: Record<string, string> | undefined, prose: string, notices?: CausedNotice[], attachments?: MailAttachment[],
  ): Promise<ProcessOutcome> {
    const budget = c.replyBudget ?? replyBudget(budgetKey(sender, null, this.ctx.keyring), this.config.limits, new Date());
    const { outbox, spent } = await replyMails(this.ctx, { spoolKey: row.key, mail, sender, budget, status, fields, prose, notices, attachments });
    if (spent) {
      // Only the direct reply is suppressed: the command's effects (a vote,
      // a ticket) stand, and the notices it causes go to other people.
      if (!notices?.length && !c.effects?.length) return this.dropped({ ...c, replyBudget: budget, outcome: limitedOutcome(spent, outcome) });
      this.ctx.logger.warn({ sender, budget: budget.key, outcome }, 'reply budget spent: no direct reply');
    }
    return {
      completion: { ...c, outcome: spent ? limitedOutcome(spent, outcome) : outcome, outbox, replyBudget: budget },
      summary: `${c.command ?? 'no command'} -> Status: ${status}${spent ? ' (reply rate limited)' : ''}`,
    };
  }
}
