/**
 * `ztrust-bot tickets [list | show ID] [--state S] [--json] [--config FILE]`:
 * the tickets in the state store, for operators and maintainers. `show`
 * prints the canonical content exactly (its SHA-256 is the ticket digest).
 * Approvals are counted with the votes' own rule (tickets/approvals.ts countApprovals,
 * against the keys the bot committed): a lapsed vote is shown as not
 * counted, with the reason.
 */
import type { Command } from 'commander';
import { cryptoPolicyOf, defaultConfigPath, loadConfig } from '../src/config/load.js';
import { approvalCheck } from '../src/ledger/standing.js';
import { KnownKeys } from '../src/pgp/known.js';
import { openStore } from '../src/store/open.js';
import { countApprovals } from '../src/tickets/approvals.js';
import { describeTicket, effectiveState, isoSeconds, parseTicketId, TICKET_STATES } from '../src/tickets/ticket.js';
import { io, type Io } from './collection-common.js';

// The --state values; cli/main.ts's help lists them (test/unit/cli-start.test.ts holds the two together).
const STATES: readonly string[] = TICKET_STATES;

/** The action of `tickets` (its options are defined in cli/main.ts). */
export async function tickets(action: string | undefined, id: string | undefined, o: { state?: string; json?: boolean; config?: string }, cmd: Command): Promise<void> {
  const x: Io = io(cmd, 'tickets');
  const act = action ?? 'list';
  if (act !== 'list' && act !== 'show') x.fail(`unknown action ${JSON.stringify(act)}; use list or show ID`, 2);
  if (o.state && !STATES.includes(o.state)) x.fail(`unknown state ${JSON.stringify(o.state)}; one of ${STATES.join(', ')}`, 2);
  const cfg = loadConfig(o.config ?? defaultConfigPath());
  const store = openStore(cfg);
  const now = new Date();
  const check = approvalCheck({ keyring: await new KnownKeys(cfg.dataDir).get(), policy: cryptoPolicyOf(cfg), maintainers: cfg.maintainers, now });
  try {
    if (act === 'list') {
      const rows = (await store.listTickets()).filter((t) => !o.state || effectiveState(t, now) === o.state);
      const items = [];
      for (const t of rows) {
        const votes = await countApprovals(await store.getVotes(t.id), check);
        items.push({ id: t.id, state: effectiveState(t, now), kind: t.kind, subject: t.subject, what: describeTicket(t),
          approvals: votes.approvals.length, threshold: cfg.threshold, created: t.createdAt, expires: t.expiresAt, digest: t.digest });
      }
      if (o.json) x.out(`${JSON.stringify(items)}\n`);
      else {
        for (const i of items) {
          x.out(`${i.id}  ${i.state.padEnd(8)} ${i.approvals}/${i.threshold}  ${isoSeconds(new Date(i.created)).slice(0, 10)}  ${i.what}\n`);
        }
        x.out(`${items.length} ticket(s)\n`);
      }
      return;
    }
    const tid = parseTicketId(cfg.tickets.prefix, id);
    if (!tid) x.fail(`give a ticket id, e.g. tickets show ${cfg.tickets.prefix}000042`, 2);
    const t = await store.getTicket(tid);
    if (!t) x.fail(`no ticket ${tid}`, 1, 'not-found');
    const votes = await store.getVotes(t.id);
    const { approvals, reasons } = await countApprovals(votes, check);
    const notCounted = (voter: string): string | null => reasons.get(voter.toUpperCase()) ?? null;
    const changes = await store.listChanges({ ticketId: t.id });
    if (o.json) {
      x.out(`${JSON.stringify({ ...t, state: effectiveState(t, now), payload: undefined, approvals: approvals.length, threshold: cfg.threshold,
        votes: votes.map((v) => ({ ...v, counted: notCounted(v.voter) === null, notCounted: notCounted(v.voter) })), changes: changes.map((c) => ({ ...c, payload: undefined })) })}\n`);
      return;
    }
    x.out([
      `Ticket: ${t.id}`, `State: ${effectiveState(t, now)}${t.closedReason ? ` (${t.closedReason})` : ''}`, `Kind: ${t.kind}`,
      `What: ${describeTicket(t)}`, `Submitter: ${t.submitter} <${t.requester}>`, `Created: ${t.createdAt}`, `Expires: ${t.expiresAt}`,
      `Ticket-Digest: ${t.digest}`, `Approvals: ${approvals.length} of ${cfg.threshold} needed`, '',
      ...votes.map((v) => `${v.vote} by ${v.voter} at ${v.at}${notCounted(v.voter) ? ` (not counted: ${notCounted(v.voter)})` : ''}${v.reason ? `: ${v.reason}` : ''}`),
      ...changes.map((c) => `change ${c.id}: ${c.state}${c.commit ? ` commit ${c.commit}` : ''}${c.logIndex !== null ? ` log ${c.logIndex}` : ''}${c.error ? ` (${c.error})` : ''}`),
      '', '--- content (SHA-256 = Ticket-Digest) ---', '',
    ].join('\n'));
    x.out(t.content);
  } finally {
    await store.close();
  }
}
