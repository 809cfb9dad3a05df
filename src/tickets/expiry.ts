/**
 * Ticket expiry, decided in one place for both paths that find it: the
 * periodic sweep (tickets/expire.ts) and a vote that arrives after the expiry
 * (commands/vote.ts). Both record the same transition and tell the submitter
 * with the same notice; only how the notice is sent differs.
 */
import { render } from '../templates.js';
import type { TicketRow, TicketUpdate } from './ticket.js';
import { describeTicket, isoSeconds, transition } from './ticket.js';

export interface ExpiryNotice {
  to: string[];
  subject: string;
  status: 'rejected';
  fields: Record<string, string>;
  prose: string;
}

/** The expire transition of a pending ticket past its expiry at `now` (TicketError otherwise) and the submitter's notice. */
export function expire(t: TicketRow, threshold: number, now: Date): { update: TicketUpdate; notice: ExpiryNotice } {
  const update = transition(t, { kind: 'expire', now });
  const what = describeTicket(t);
  return {
    update,
    notice: {
      to: [t.requester], subject: `${t.id} expired: ${what}`, status: 'rejected', fields: { Ticket: t.id },
      prose: render('notice-expired', { ticket: t.id, expires: isoSeconds(new Date(t.expiresAt)), threshold, what }),
    },
  };
}
