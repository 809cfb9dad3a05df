/**
 * Signed notices the bot sends on its own (not as the answer to a message):
 * "applied", "failed" and "approvals lapsed" from the apply step, "expired"
 * from the ticket sweep, "logged" from the ATTEST apply step. Same framing
 * as replies (frame.ts), signed the same way, through the gate's notice
 * rules (gate.ts: the recipient rules; no budget), and returned as outbox
 * rows for the caller's store transaction, which records them with the
 * state change they report.
 */
import type { LoadedConfig } from '../config/load.js';
import type { ReplyStatus } from '../mail/compose.js';
import { sanitizeHeaderText } from '../mail/text.js';
import type { Logger } from '../logger.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { OutboxRecord } from '../store/types.js';
import { outboxRow } from './outbox-row.js';
import { bodyWithStatus, noticeThreading } from './frame.js';
import { recipientGate, type Refusal } from './gate.js';

export type { BotSigner };

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

/** What the gate let through (zero or one row) and whom it refused. */
export interface Gated {
  rows: OutboxRecord[];
  refused: Refusal[];
}

export async function composeNotice(cfg: LoadedConfig, signer: BotSigner, n: Notice, logger?: Logger): Promise<Gated> {
  const { to, refused } = recipientGate(n.to, cfg);
  if (refused.length) logger?.warn({ notice: n.id, refused }, 'notice recipients refused by the gate');
  if (to.length === 0) return { rows: [], refused };
  const row = await outboxRow(cfg, signer, {
    id: n.id, kind: 'notice', to, subject: sanitizeHeaderText(n.subject), body: bodyWithStatus(n.status, n.fields, n.prose),
    status: n.status, threading: noticeThreading(n.inReplyTo), autoSubmitted: 'auto-generated', signing: cfg.replies.signing, date: new Date(),
  });
  return { rows: [row], refused };
}
