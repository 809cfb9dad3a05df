/**
 * The notices about a ticket's fate, worded once: the expiry notice is sent
 * by a vote that finds its ticket expired (commands/vote.ts) and by the
 * sweep (tickets/sweep.ts), and must read the same from both. The caller
 * passes the ticket's description and times as text, so this module needs
 * nothing of tickets/ (which sends through it).
 */
import type { ReplyStatus } from '../mail/compose.js';
import { render } from '../templates.js';
import { line } from './wording.js';

export interface TicketFacts {
  id: string;
  /** One line for people: what the ticket would change (tickets/ticket.ts describeTicket). */
  what: string;
}

export interface NoticeText {
  subject: string;
  status: ReplyStatus;
  fields: Record<string, string>;
  prose: string;
}

/** A pending ticket expired before it had `threshold` approvals. `expires`: its expiry, ISO-8601 to the second. */
export function expiredNotice(t: TicketFacts, expires: string, threshold: number): NoticeText {
  return {
    subject: line('subject-ticket-expired', { ticket: t.id, what: t.what }),
    status: 'rejected',
    fields: { Ticket: t.id },
    prose: render('notice-expired', { ticket: t.id, expires, threshold, what: t.what }),
  };
}
