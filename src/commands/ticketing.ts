/**
 * Opening a ticket from a handler: the id, the canonical content and its
 * digest, the store effect that creates it, the signed notices to every
 * maintainer (with copy-paste APPROVE/REJECT lines), and what to tell the
 * submitter. Nothing is written here: the dispatcher records the effect, the
 * reply and the notices in one transaction.
 */
import { maintainerContacts } from '../outbound/recipients.js';
import { line } from '../outbound/wording.js';
import type { ChangePayload } from '../tickets/payload.js';
import type { NewTicket, StoreEffect, TicketKind } from '../store/types.js';
import { render } from '../templates.js';
import {
  canonicalContent, expiryFor, formatTicketId, framedContent, isoSeconds, ticketDigest,
} from '../tickets/ticket.js';
import type { CommandRequest, CommandResult, ExtraMail, HandlerContext } from './types.js';

export interface TicketDraft {
  kind: TicketKind;
  /** Key fingerprint or certificate name. */
  subject: string;
  /** One line for people: what the ticket would change. */
  what: string;
  summary: [string, string][];
  /** The exact data to be stored (armour, PEM and signature), ASCII. */
  data: string;
  payload: ChangePayload;
  /** A paragraph for the maintainers' notice on what this kind of ticket asks of them (rendered from templates/), or none. */
  why?: string;
}

export interface OpenedTicket {
  id: string;
  digest: string;
  content: string;
  expires: Date;
  effect: StoreEffect;
  notices: ExtraMail[];
  /** Sentences for the submitter's reply (maintainers who could not be told). */
  notes: string[];
}

export async function openTicket(req: CommandRequest, ctx: HandlerContext, d: TicketDraft): Promise<OpenedTicket> {
  const cfg = ctx.config;
  const id = formatTicketId(cfg.tickets.prefix, await ctx.store.nextTicketNumber());
  const created = req.now;
  const expires = expiryFor(created, cfg.tickets.expireDays);
  const submitter = req.signer ?? '';
  const content = canonicalContent({ id, kind: d.kind, subject: d.subject, submitter, created, expires, summary: d.summary, data: d.data });
  const digest = ticketDigest(content);
  const ticket: NewTicket = {
    id, kind: d.kind, subject: d.subject, submitter, requester: req.sender, parentMessageId: req.mail.messageId ?? null,
    sourceDigest: req.sourceDigest, content, digest, payload: JSON.stringify(d.payload),
    createdAt: created.toISOString(), expiresAt: expires.toISOString(), spoolKey: req.spoolKey,
  };

  const contacts = await maintainerContacts(cfg, ctx.keyring, ctx.policy, req.now);
  const notices: ExtraMail[] = [];
  const notes: string[] = [];
  if (cfg.maintainers.length === 0) {
    notes.push(line('note-no-maintainers', {}));
  }
  for (const m of contacts) {
    if (!m.address || m.problem) {
      notes.push(line('note-maintainer-not-told', { fingerprint: m.fingerprint, problem: m.problem ?? line('maintainer-no-address', {}) }));
      continue;
    }
    notices.push({
      tag: `notify-${m.keyId}`,
      to: [m.address],
      subject: line('subject-ticket-notify', { ticket: id, what: d.what }),
      status: 'pending',
      fields: { Ticket: id, 'Ticket-Digest': digest },
      body: render('ticket-notify', {
        ticket: id, digest, what: d.what, submitter, sender: req.sender, expires: isoSeconds(expires),
        threshold: cfg.threshold, maintainers: cfg.maintainers.length, framed: framedContent(content), botAddress: cfg.bot.address,
        why: d.why ?? null,
      }),
    });
  }
  return { id, digest, content, expires, effect: { kind: 'ticket-create', ticket }, notices, notes };
}

/** The submitter's reply to a request that opened ticket `t` (templates/ticket-opened.txt), with the notices and the store effect. */
export function ticketOpenedReply(cmd: string, t: OpenedTicket, ctx: HandlerContext, r: { what: string; details: string[]; stripped: string[]; warnings: string[] }): CommandResult {
  return {
    status: 'pending',
    fields: { Ticket: t.id, 'Ticket-Digest': t.digest },
    body: render('ticket-opened', {
      command: cmd, ticket: t.id, what: r.what, threshold: ctx.config.threshold, expires: isoSeconds(t.expires),
      details: r.details, stripped: r.stripped, warnings: r.warnings, notes: t.notes,
    }),
    extra: t.notices,
    effects: [t.effect],
    outcome: `${cmd}:pending:${t.id}`,
  };
}
