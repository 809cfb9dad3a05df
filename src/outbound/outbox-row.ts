/**
 * The one place the bot's mail becomes signed bytes and an outbox row
 * (test/unit/outbound-architecture.test.ts keeps it so): every reply,
 * notice, digest and reminder gets the same From, the deterministic
 * Message-ID of its outbox id (a resend carries the same id), the RFC 3834
 * Auto-Submitted header, the loop-detection header and the configured
 * envelope sender here. Callers reach it only through the gate (reply.ts,
 * notice.ts, digest.ts).
 */
import type { LoadedConfig } from '../config/load.js';
import { composeSigned, messageIdFor, type MailAttachment, type ReplyStatus, type SigningStyle } from '../mail/compose.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { OutboxRecord } from '../store/types.js';
import type { Threading } from './frame.js';

export interface MailSpec {
  /** The outbox id: also the outbound job id and the Message-ID seed. */
  id: string;
  kind: OutboxRecord['kind'];
  to: string[];
  subject: string;
  /** The whole body, already framed (frame.ts) or, for digests, the signed digest text. */
  body: string;
  status?: ReplyStatus;
  threading: Threading;
  /** RFC 3834: auto-replied for answers, auto-generated for notices and digests. */
  autoSubmitted: 'auto-replied' | 'auto-generated';
  signing: SigningStyle;
  headers?: Record<string, string>;
  date: Date;
  /** The reply budget the row is charged to (direct replies only). */
  budget?: string;
  /** The received message the row answers or was caused by. */
  spoolKey?: string | null;
  /** Files signed with the text (PGP/MIME only; see OutgoingMail.attachments). */
  attachments?: readonly MailAttachment[];
}

function domainOf(address: string): string {
  return address.split('@')[1] ?? 'localhost';
}

export async function outboxRow(cfg: LoadedConfig, signer: BotSigner, m: MailSpec): Promise<OutboxRecord> {
  const messageId = messageIdFor(m.id, domainOf(cfg.bot.address));
  const raw = await composeSigned({
    from: { name: cfg.bot.name, address: cfg.bot.address },
    to: m.to,
    subject: m.subject,
    messageId,
    date: m.date,
    inReplyTo: m.threading.inReplyTo,
    references: m.threading.references,
    autoSubmitted: m.autoSubmitted,
    loopHeader: { name: cfg.bot.loopHeader, value: cfg.bot.address },
    ...(m.status ? { status: m.status } : {}),
    ...(m.headers ? { headers: m.headers } : {}),
    body: m.body,
    signing: m.signing,
    ...(m.attachments?.length ? { attachments: m.attachments } : {}),
  }, signer);
  return {
    id: m.id, spoolKey: m.spoolKey ?? null, kind: m.kind, envelopeFrom: cfg.outbox.envelopeFrom ?? cfg.bot.address,
    recipients: m.to, messageId, raw, ...(m.budget ? { budget: m.budget } : {}),
  };
}
