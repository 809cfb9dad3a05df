/**
 * Signed notices the bot sends on its own (not as the answer to a message):
 * "applied" and "failed" from the apply step, "expired" from the ticket
 * sweep. Same shape as replies (Status: first, then the fields, then the
 * prose), signed the same way, recorded in the outbox like every other mail.
 */
import type { LoadedConfig } from '../config/load.js';
import { bodyWithStatus } from '../commands/dispatch.js';
import { composeSigned, messageIdFor, type OutgoingMail, type ReplyStatus } from '../mail/compose.js';
import { sanitizeHeaderText } from '../mail/text.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { OutboxRecord } from '../store/types.js';

export interface Notice {
  /** Deterministic outbox id (also the outbound job id and the Message-ID seed). */
  id: string;
  to: string[];
  subject: string;
  status: ReplyStatus;
  fields?: Record<string, string>;
  prose: string;
  /** The message the notice is about (the submission), for threading. */
  inReplyTo?: string | null;
}

export async function composeNotice(cfg: LoadedConfig, signer: BotSigner, n: Notice): Promise<OutboxRecord> {
  const domain = cfg.bot.address.split('@')[1] ?? 'localhost';
  const mail: OutgoingMail = {
    from: { name: cfg.bot.name, address: cfg.bot.address },
    to: n.to,
    subject: sanitizeHeaderText(n.subject),
    messageId: messageIdFor(n.id, domain),
    date: new Date(),
    inReplyTo: n.inReplyTo ?? null,
    references: n.inReplyTo ? [n.inReplyTo] : [],
    autoSubmitted: 'auto-generated',
    loopHeader: { name: cfg.bot.loopHeader, value: cfg.bot.address },
    status: n.status,
    body: bodyWithStatus(n.status, n.fields, n.prose),
    signing: cfg.replies.signing,
  };
  return {
    id: n.id, spoolKey: null, kind: 'notice', envelopeFrom: cfg.outbox.envelopeFrom ?? cfg.bot.address, recipients: n.to,
    messageId: mail.messageId, raw: await composeSigned(mail, signer),
  };
}
