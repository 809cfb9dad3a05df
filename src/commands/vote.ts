/**
 * APPROVE <ticket> <digest> and REJECT <ticket> <digest> <reason>: the
 * maintainers' votes. Identity is the verified signing key: only keys listed
 * in config.maintainers vote, each once per ticket. A vote names the digest
 * of the content the maintainer reviewed; any other digest is refused, so an
 * approval can only ever apply what was shown. At `threshold` distinct
 * approvals the ticket is approved and a change request goes to the apply
 * step; one rejection closes it. The submitter is told either way.
 *
 * A vote counts only while its maintainer key is valid: the earlier votes
 * are re-checked against the collection keys at the moment the threshold is
 * checked, so an approval whose key has since expired, been revoked or left
 * the collection no longer counts (and the reply says so). The new vote's
 * own key was checked when its signature verified, just now. The rule is
 * countApprovals (src/tickets/approvals.ts), and it is the only one: the
 * apply step counts again with it before it writes, STATUS and
 * `ztrust-bot tickets` show with it which votes count.
 *
 * Votes are decided on the ticket version read here; the store refuses the
 * transaction if another vote landed in between (optimistic concurrency), so
 * two approvals processed at once cannot both miss the threshold.
 *
 * The digest may follow the ticket on the same line (the contract form) or
 * on the next line (what the notification shows, so that lines stay within
 * 72 columns); a REJECT reason may follow on the lines after it. The
 * `To:` binding line under them is checked by the dispatcher (parse.ts)
 * and blanked in `following`, so it is never read as a digest or reason.
 */
import type { ParsedCommand } from './parse.js';
import type { ChangeKind, StoreEffect, TicketRow, VoteRecord } from '../store/types.js';
import { render } from '../templates.js';
import { expire } from '../tickets/expiry.js';
import {
  describeTicket, isExpired, isoSeconds, normaliseDigest, parseTicketId, transition,
} from '../tickets/ticket.js';
import { contentValue } from '../text/value.js';
import { approvalCheck } from '../ledger/standing.js';
import { line } from '../outbound/wording.js';
import { countApprovals } from '../tickets/approvals.js';
import { isMaintainer, refused } from './common.js';
import type { CommandRequest, CommandResult, ExtraMail, Handler, HandlerContext } from './types.js';
import { COMMAND_BOUNDS } from '../limits.js';
import { rootApproveHandler, rootVersionArg } from './root-approve.js';

export interface ParsedVote {
  ticket: string | null;
  /** The raw digest text as written (null when absent). */
  digestText: string | null;
  digest: string | null;
  reason: string;
}

export function parseVote(cmd: ParsedCommand, prefix: string): ParsedVote {
  const [ticketText, digestWord, ...rest] = cmd.args;
  const ticket = parseTicketId(prefix, ticketText);
  if (digestWord !== undefined) {
    return { ticket, digestText: digestWord, digest: normaliseDigest(digestWord), reason: rest.join(' ').slice(0, COMMAND_BOUNDS.rejectReasonChars) };
  }
  // The two- or three-line form: digest on the next line, then the reason.
  const lines: string[] = [];
  for (const raw of cmd.following.split('\n')) {
    const line = raw.trim();
    if (raw === '-- ' || raw === '--' || /^-----BEGIN PGP /.test(raw) || line.startsWith('>')) break;
    if (line === '' && lines.length > 0) {
      if (lines.length >= 2) break;
      continue;
    }
    if (line === '') continue;
    lines.push(line);
    if (lines.length > 8) break;
  }
  const digestText = lines[0] ?? null;
  return { ticket, digestText, digest: normaliseDigest(digestText ?? undefined), reason: lines.slice(1).join(' ').slice(0, COMMAND_BOUNDS.rejectReasonChars) };
}

const CHANGE_KIND: Record<TicketRow['kind'], ChangeKind> = {
  'add-key': 'add-key', 'update-key': 'update-key', 'add-cert': 'add-cert', 'add-source-key': 'add-source-key', 'add-source-release': 'add-source-release',
};

function submitterNotice(t: TicketRow, tag: string, status: 'approved' | 'rejected', subject: string, body: string): ExtraMail {
  return { tag: `${tag}-${t.id}`, to: [t.requester], subject, status, fields: { Ticket: t.id, 'Ticket-Digest': t.digest }, body, about: t.parentMessageId };
}

/** Mark a pending ticket past its expiry as expired, telling the submitter (tickets/expiry.ts, as the sweep does). */
export function expireEffects(t: TicketRow, cfg: HandlerContext['config'], now: Date): { effect: StoreEffect; notice: ExtraMail } {
  const { update, notice: n } = expire(t, cfg.threshold, now);
  return {
    effect: update,
    notice: { tag: `expired-${t.id}`, to: n.to, subject: n.subject, status: n.status, fields: n.fields, body: n.prose, about: t.parentMessageId },
  };
}

async function vote(kind: 'approve' | 'reject', req: CommandRequest, ctx: HandlerContext): Promise<CommandResult> {
  const cfg = ctx.config;
  const CMD = kind === 'approve' ? 'APPROVE' : 'REJECT';
  const usage = line(kind === 'approve' ? 'fix-usage-approve' : 'fix-usage-reject', { prefix: cfg.tickets.prefix, bot: cfg.bot.address });
  const v = parseVote(req.command, cfg.tickets.prefix);
  if (!v.ticket) return refused(CMD, 'usage', line('reason-usage-no-ticket', { prefix: cfg.tickets.prefix }), usage);
  if (!v.digest) {
    return refused(CMD, 'usage', v.digestText ? line('reason-usage-bad-digest', { digest: contentValue(v.digestText, 80) }) : line('reason-usage-no-digest', {}), usage);
  }
  // Identity is the key that signed, never the From: address.
  if (!isMaintainer(cfg, req.signer)) {
    return refused(CMD, 'not-a-maintainer', line('reason-not-a-maintainer', { signer: req.signer }), line('fix-not-a-maintainer', {}));
  }
  const voter = req.signer!.toUpperCase();
  const t = await ctx.store.getTicket(v.ticket);
  if (!t) {
    return { ...refused(CMD, 'no-such-ticket', line('reason-no-such-ticket', { ticket: v.ticket }), line('fix-no-such-ticket', {})), status: 'not-found' };
  }
  const what = describeTicket(t);
  if (isExpired(t, req.now)) {
    const { effect, notice } = expireEffects(t, cfg, req.now);
    return {
      ...refused(CMD, 'ticket-expired', line('reason-ticket-expired', { ticket: t.id, expired: isoSeconds(new Date(t.expiresAt)) }),
        line('fix-ticket-expired', {})),
      effects: [effect], extra: [notice],
    };
  }
  if (t.state !== 'pending') {
    return refused(CMD, 'ticket-closed', line('reason-ticket-closed', { ticket: t.id, state: t.state, closedReason: t.closedReason }),
      line('fix-ticket-closed', { ticket: t.id }));
  }
  if (v.digest !== t.digest) {
    return refused(CMD, 'wrong-digest', line('reason-wrong-digest', { ticket: t.id }), line('fix-wrong-digest', { ticket: t.id }));
  }
  // A source key needs a member's vouch AND k maintainers: the member who
  // vouched is one voice, so their own approval does not count toward k
  // (issue 11: otherwise one maintainer and one other admit an upstream key).
  if (kind === 'approve' && (t.kind === 'add-source-key' || t.kind === 'add-source-release') && t.submitter.toUpperCase() === voter) {
    return refused(CMD, 'own-vouch', line('reason-own-vouch', { ticket: t.id }), line('fix-own-vouch', { threshold: cfg.threshold }));
  }
  const votes = await ctx.store.getVotes(t.id);
  const mine = votes.find((x) => x.voter.toUpperCase() === voter);
  if (mine && mine.vote === kind) {
    return refused(CMD, 'already-voted', line('reason-already-voted', { approve: kind === 'approve', ticket: t.id, at: isoSeconds(new Date(mine.at)) }),
      line('fix-already-voted', {}));
  }
  const record: VoteRecord = {
    ticketId: t.id, voter, vote: kind, digest: v.digest, reason: kind === 'reject' ? contentValue(v.reason, 300) : null,
    spoolKey: req.spoolKey, at: req.now.toISOString(),
  };

  if (kind === 'reject') {
    if (!v.reason.trim()) return refused(CMD, 'usage', line('reason-usage-no-reason', {}), usage);
    const reason = record.reason!;
    return {
      status: 'rejected',
      fields: { Ticket: t.id, 'Ticket-Digest': t.digest },
      body: render('vote-rejected', { ticket: t.id, what, reason }),
      effects: [transition(t, { kind: 'reject', vote: record })],
      extra: [submitterNotice(t, 'rejected', 'rejected', line('subject-ticket-rejected', { ticket: t.id, what }), render('notice-rejected', { ticket: t.id, what, reason }))],
      outcome: `${CMD}:rejected:${t.id}`,
    };
  }

  const { approvals, notCounted } = await countApprovals(votes, approvalCheck({ keyring: ctx.keyring, policy: ctx.policy, maintainers: cfg.maintainers, now: req.now }), record);
  if (approvals.length >= cfg.threshold) {
    return {
      status: 'approved',
      fields: { Ticket: t.id, 'Ticket-Digest': t.digest },
      body: render('vote-approved', { ticket: t.id, what, threshold: cfg.threshold, approvers: approvals.join(', '), notCounted }),
      effects: [
        transition(t, { kind: 'approve', vote: record }),
        {
          kind: 'change-create',
          change: {
            id: `c-${t.id}`, kind: CHANGE_KIND[t.kind], ticketId: t.id, subject: t.subject, payload: t.payload,
            requester: t.requester, parentMessageId: t.parentMessageId, sourceDigest: t.sourceDigest,
            signers: t.submitter ? [t.submitter] : [], approvers: approvals, createdAt: req.now.toISOString(),
          },
        },
      ],
      extra: [submitterNotice(t, 'approved', 'approved', line('subject-ticket-approved', { ticket: t.id, what }), render('notice-approved', { ticket: t.id, what, threshold: cfg.threshold }))],
      outcome: `${CMD}:approved:${t.id}`,
    };
  }
  return {
    status: 'pending',
    fields: { Ticket: t.id, 'Ticket-Digest': t.digest },
    body: render('vote-recorded', { ticket: t.id, what, approvals: approvals.length, threshold: cfg.threshold, notCounted }),
    effects: [transition(t, { kind: 'vote', vote: record })],
    outcome: `${CMD}:recorded:${t.id}`,
  };
}

// APPROVE ROOT-<n>: an approval of a trust-root draft, not of a ticket (src/commands/root-approve.ts).
export const approveHandler: Handler = (req, ctx) => (rootVersionArg(req.command.args[0]) !== null ? rootApproveHandler(req, ctx) : vote('approve', req, ctx));
export const rejectHandler: Handler = (req, ctx) => vote('reject', req, ctx);
