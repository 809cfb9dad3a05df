/**
 * The expiry sweep: pending tickets older than `tickets.expireDays` become
 * expired, and their submitters are told (signed notice, in the same store
 * transaction). Votes on an expired ticket are refused even before the sweep
 * runs (see commands/vote.ts), so the sweep only has to be timely for the
 * notice. A ticket that a vote changed meanwhile is left to the next sweep.
 */
import type { LoadedConfig } from '../config/load.js';
import { StoreError } from '../errors.js';
import type { Logger } from '../logging.js';
import { composeNotice, type BotSigner } from '../outbound/notice.js';
import { expiredNotice, type NoticeText } from '../outbound/ticket-notices.js';
import { line } from '../outbound/wording.js';
import type { StateStore, StoreEffect, TicketRow } from '../store/types.js';
import { describeTicket, isExpired, isoSeconds } from './ticket.js';

export interface SweepDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  logger: Logger;
}

/**
 * Expiring one ticket, wherever it happens (the sweep below, or a vote that
 * finds its ticket expired: commands/vote.ts): the store effect and the
 * submitter's notice, the same from both.
 */
export function expiry(t: TicketRow, threshold: number): { effect: StoreEffect; notice: NoticeText } {
  return {
    effect: { kind: 'ticket-update', ticketId: t.id, expectVersion: t.version, state: 'expired', closedReason: line('closed-expired', {}) },
    notice: expiredNotice({ id: t.id, what: describeTicket(t) }, isoSeconds(new Date(t.expiresAt)), threshold),
  };
}

/** Expire what is due; returns the outbox ids of the notices (to enqueue). */
export async function expireTickets(deps: SweepDeps, now: Date = new Date()): Promise<string[]> {
  const out: string[] = [];
  for (const t of await deps.store.listTickets({ states: ['pending'] })) {
    if (!isExpired(t, now)) continue;
    const { effect, notice: n } = expiry(t, deps.config.threshold);
    const notice = await composeNotice(deps.config, deps.signer, { id: `expired:${t.id}`, to: [t.requester], ...n, inReplyTo: t.parentMessageId }, deps.logger);
    try {
      const r = await deps.store.commitEffects([effect], notice.rows);
      out.push(...r.outboxIds);
      deps.logger.info({ ticket: t.id }, 'ticket expired');
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'STORE_CONFLICT')) throw err;
    }
  }
  return out;
}
