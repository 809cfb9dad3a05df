/**
 * STATUS <ticket>: a ticket's state and votes; unsigned ok (read-only).
 * Approvals are counted with the votes' own rule (tickets/approvals.ts countApprovals):
 * a vote whose key has since expired, been revoked or left the collection,
 * or whose voter is no longer a maintainer, is shown as not counted, with
 * the reason, and is not in the count.
 */
import { render } from '../templates.js';
import { describeTicket, effectiveState, isoSeconds, parseTicketId, formatTicketId } from '../tickets/ticket.js';
import type { Handler } from './types.js';
import { approvalCheck } from '../ledger/standing.js';
import { countApprovals } from '../tickets/approvals.js';

export const statusHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const query = req.command.args[0] ?? '';
  const example = formatTicketId(cfg.tickets.prefix, 42);
  const id = parseTicketId(cfg.tickets.prefix, query);
  const t = id ? await ctx.store.getTicket(id) : undefined;
  if (!t) {
    return {
      status: id ? 'not-found' : 'error',
      body: render('status-not-found', { query: query ? query.slice(0, 40).replace(/[^\x21-\x7e]/g, '?') : '(no ticket given)', example }),
      outcome: id ? 'STATUS:not-found' : 'STATUS:usage',
    };
  }
  const state = effectiveState(t, req.now);
  const votes = await ctx.store.getVotes(t.id);
  const { approvals, reasons } = await countApprovals(votes, approvalCheck({ keyring: ctx.keyring, policy: ctx.policy, maintainers: cfg.maintainers, now: req.now }));
  const changes = await ctx.store.listChanges({ ticketId: t.id });
  const change = changes[changes.length - 1];
  let changeText: string | null = null;
  if (change?.state === 'applied') {
    changeText = `Applied${change.commit ? ` in collection commit ${change.commit}` : ''}${change.logIndex !== null ? `, log index ${change.logIndex}` : ''}.`;
  } else if (change?.state === 'failed') {
    changeText = `The apply step could not apply it: ${change.error ?? 'unknown reason'}`;
  } else if (change) {
    changeText = 'Queued for the apply step.';
  }
  const next: Record<string, string> = {
    pending: `Maintainers decide with APPROVE ${t.id} or REJECT ${t.id} and the ticket digest, in a signed mail.`,
    approved: 'The change is being applied; the submitter gets a signed mail when it is in place.',
    applied: 'Nothing more will happen to this ticket.',
    rejected: 'Nothing more will happen to this ticket; a new submission opens a new one.',
    expired: 'Nothing more will happen to this ticket; a new submission opens a new one.',
    failed: 'Nothing more will happen to this ticket; a new submission opens a new one.',
  };
  return {
    status: 'found',
    fields: { Ticket: t.id, 'Ticket-Digest': t.digest, 'Ticket-State': state },
    body: render('status', {
      ticket: t.id, kind: t.kind, what: describeTicket(t), state, reason: t.closedReason,
      created: isoSeconds(new Date(t.createdAt)), expires: isoSeconds(new Date(t.expiresAt)),
      approvals: approvals.length, threshold: cfg.threshold,
      votes: votes.map((v) => `${v.vote === 'approve' ? 'approved' : 'rejected'} by ${v.voter} at ${isoSeconds(new Date(v.at))}` +
        `${reasons.has(v.voter.toUpperCase()) ? ` (not counted: ${reasons.get(v.voter.toUpperCase())})` : ''}${v.reason ? `: ${v.reason}` : ''}`),
      noVotes: votes.length === 0,
      change: changeText,
      next: next[state],
    }),
    outcome: 'STATUS:found',
  };
};
