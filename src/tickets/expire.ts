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
import { expiredNotice } from '../outbound/ticket-notices.js';
import type { StateStore } from '../store/types.js';
import { describeTicket, isExpired, isoSeconds } from './ticket.js';

export interface SweepDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  logger: Logger;
}

/** Expire what is due; returns the outbox ids of the notices (to enqueue). */
export async function expireTickets(deps: SweepDeps, now: Date = new Date()): Promise<string[]> {
  const out: string[] = [];
  for (const t of await deps.store.listTickets({ states: ['pending'] })) {
    if (!isExpired(t, now)) continue;
    const n = expiredNotice({ id: t.id, what: describeTicket(t) }, isoSeconds(new Date(t.expiresAt)), deps.config.threshold);
    const notice = await composeNotice(deps.config, deps.signer, { id: `expired:${t.id}`, to: [t.requester], ...n, inReplyTo: t.parentMessageId }, deps.logger);
    try {
      const r = await deps.store.commitEffects([{
        kind: 'ticket-update', ticketId: t.id, expectVersion: t.version, state: 'expired',
        closedReason: 'expired before enough maintainers approved it',
      }], notice.rows);
      out.push(...r.outboxIds);
      deps.logger.info({ ticket: t.id }, 'ticket expired');
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'STORE_CONFLICT')) throw err;
    }
  }
  return out;
}
