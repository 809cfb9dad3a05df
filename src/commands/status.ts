/**
 * STATUS <ticket>: a ticket's state and votes; unsigned ok (read-only).
 * Approvals are counted with the votes' own rule (tickets/approvals.ts countApprovals):
 * a vote whose key has since expired, been revoked or left the collection,
 * or whose voter is no longer a maintainer, is shown as not counted, with
 * the reason, and is not in the count.
 */
import { line, render } from '../templates.js';
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
      body: render('status-not-found', { query: query ? query.slice(0, 40).replace(/[^\x21-\x7e]/g, '?') : line('status-no-ticket-given', {}), example }),
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
    changeText = line('status-change-applied', { commit: change.commit, hasLogIndex: change.logIndex !== null, logIndex: change.logIndex });
  } else if (change?.state === 'failed') {
    changeText = line('status-change-failed', { error: change.error });
  } else if (change) {
    changeText = line('status-change-queued', {});
  }
  const next: Record<string, string> = {
    pending: line('status-next-pending', { ticket: t.id }),
    approved: line('status-next-approved', {}),
    applied: line('status-next-applied', {}),
    rejected: line('status-next-closed', {}),
    expired: line('status-next-closed', {}),
    failed: line('status-next-closed', {}),
  };
  return {
    status: 'found',
    fields: { Ticket: t.id, 'Ticket-Digest': t.digest, 'Ticket-State': state },
    body: render('status', {
      ticket: t.id, kind: t.kind, what: describeTicket(t), state, reason: t.closedReason,
      created: isoSeconds(new Date(t.createdAt)), expires: isoSeconds(new Date(t.expiresAt)),
      approvals: approvals.length, threshold: cfg.threshold,
      votes: votes.map((v) => line('status-vote', {
        approve: v.vote === 'approve', voter: v.voter, at: isoSeconds(new Date(v.at)), notCounted: reasons.get(v.voter.toUpperCase()), reason: v.reason,
      })),
      noVotes: votes.length === 0,
      change: changeText,
      next: next[state],
    }),
    outcome: 'STATUS:found',
  };
};
