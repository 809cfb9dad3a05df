/**
 * Ticket expiry, decided in one place for both paths that find it: the
 * periodic sweep (tickets/sweep.ts) and a vote that arrives after the expiry
 * (commands/vote.ts). Both record the same transition and tell the submitter
 * with the same notice; only how the notice is sent differs.
 */
import { expiredNotice, type NoticeText } from '../outbound/ticket-notices.js';
import type { TicketRow, TicketUpdate } from './ticket.js';
import { describeTicket, isoSeconds, transition } from './ticket.js';

/** The submitter's notice: the text is outbound/ticket-notices.ts's, the one expiry wording. */
export type ExpiryNotice = NoticeText & { to: string[] };

/** The expire transition of a pending ticket past its expiry at `now` (TicketError otherwise) and the submitter's notice. */
export function expire(t: TicketRow, threshold: number, now: Date): { update: TicketUpdate; notice: ExpiryNotice } {
  const update = transition(t, { kind: 'expire', now });
  const text = expiredNotice({ id: t.id, what: describeTicket(t) }, isoSeconds(new Date(t.expiresAt)), threshold);
  return { update, notice: { to: [t.requester], ...text } };
}
