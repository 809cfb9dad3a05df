/**
 * The one gate every mail caused by a received message passes: the direct
 * reply to its sender, and the notices a command causes for other people
 * (maintainers told of a ticket, a submitter told of a vote). The caller
 * (commands/dispatch.ts) has already applied the never-answer rules on the
 * received message (gate.ts receivedMail, quietOnList); here:
 *
 * - the direct reply is made only while the request's hourly budget (a
 *   collection key's, else the claimed address's) and the global cap allow
 *   (budget.ts); the store checks the same budget again inside its
 *   transaction, so messages processed at once cannot overshoot it;
 * - the notices are not budgeted (gate.ts, "notice"): a command's effects
 *   (a vote, a ticket) stand when its sender's replies are spent, and the
 *   people those effects concern are told;
 * - every mail passes the recipient rules (gate.ts);
 * - and, so that no new caller can answer around them, the never-answer
 *   rules on the received message are applied here again (receivedMail):
 *   a message they ignore gets no direct reply, whoever asks.
 */
import type { MailHeaders } from '../mail/parser.js';
import type { LoadedConfig } from '../config/load.js';
import type { BudgetSpent } from '../limits.js';
import { replySubject, type MailAttachment, type ReplyStatus } from '../mail/compose.js';
import { sanitizeHeaderText } from '../mail/text.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { OutboxRecord, ReplyBudget, StateStore } from '../store/types.js';
import { budgetSpent } from './budget.js';
import { outboxRow } from './outbox-row.js';
import { bodyWithStatus, noticeThreading, replyThreading, UNTHREADED } from './frame.js';
import { receivedMail, recipientGate, type Refusal } from './gate.js';

/** A notice a command causes for someone other than its sender. */
export interface CausedNotice {
  /** Distinguishes several mails caused by one message (part of the outbox id). */
  tag: string;
  to: string[];
  subject: string;
  /** Default: the status of the direct reply. */
  status?: ReplyStatus;
  fields?: Record<string, string>;
  body: string;
  /**
   * The Message-ID of the submission the notice is about, when its
   * recipient sent it (a ticket's submitter): threaded to it, as the apply
   * step's and the sweep's notices are. Absent: not threaded (a maintainer
   * never saw the submission).
   */
  about?: string | null;
}

export interface ReplyRequest {
  /** The received message's spool key: outbox ids derive from it. */
  spoolKey: string;
  mail: MailHeaders;
  sender: string;
  budget: ReplyBudget;
  status: ReplyStatus;
  fields: Record<string, string> | undefined;
  prose: string;
  notices?: readonly CausedNotice[];
  /** Files for the direct reply (PGP/MIME only; see OutgoingMail.attachments). */
  attachments?: readonly MailAttachment[];
}

export interface ReplyMails {
  outbox: OutboxRecord[];
  /** Set when the budget was spent: the direct reply is not in `outbox`. */
  spent: BudgetSpent | null;
  refused: Refusal[];
}

export interface ReplyDeps {
  config: LoadedConfig;
  signer: BotSigner;
  store: Pick<StateStore, 'replyBudgetSpent'>;
}

export async function replyMails(deps: ReplyDeps, q: ReplyRequest): Promise<ReplyMails> {
  const cfg = deps.config;
  const spent = await budgetSpent(deps.store, q.budget);
  const outbox: OutboxRecord[] = [];
  const refused: Refusal[] = [];
  const date = new Date();
  const never = receivedMail(q.mail, cfg).ignore;
  if (never) refused.push({ address: q.sender, outcome: `refused:never-answer:${never}` });
  if (!spent && !never) {
    const g = recipientGate([q.sender], cfg);
    refused.push(...g.refused);
    if (g.to.length) {
      outbox.push(await outboxRow(cfg, deps.signer, {
        id: `reply:${q.spoolKey}`, kind: 'reply', to: g.to, subject: replySubject(q.mail.subject), body: bodyWithStatus(q.status, q.fields, q.prose),
        status: q.status, threading: replyThreading(q.mail), autoSubmitted: 'auto-replied', signing: cfg.replies.signing, date,
        spoolKey: q.spoolKey, budget: q.budget.key, ...(q.attachments?.length ? { attachments: q.attachments } : {}),
      }));
    }
  }
  for (const n of q.notices ?? []) {
    const g = recipientGate(n.to, cfg);
    refused.push(...g.refused);
    if (!g.to.length) continue;
    outbox.push(await outboxRow(cfg, deps.signer, {
      id: `${n.tag}:${q.spoolKey}`, kind: 'notice', to: g.to, subject: sanitizeHeaderText(n.subject),
      body: bodyWithStatus(n.status ?? q.status, n.fields, n.body), ...(n.status ? { status: n.status } : {}),
      threading: n.about ? noticeThreading(n.about) : UNTHREADED, autoSubmitted: 'auto-generated', signing: cfg.replies.signing, date, spoolKey: q.spoolKey,
    }));
  }
  return { outbox, spent, refused };
}
