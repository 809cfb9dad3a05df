/**
 * The expiry sweep: pending tickets older than `tickets.expireDays` become
 * expired, and their submitters are told (signed notice, in the same store
 * transaction). Votes on an expired ticket are refused even before the sweep
 * runs (see commands/vote.ts), so the sweep only has to be timely for the
 * notice. A ticket that a vote changed meanwhile is left to the next sweep.
 * The transition and the notice's text come from tickets/expiry.ts, shared
 * with the vote handlers.
 */
import type { LoadedConfig } from '../config/load.js';
import { StoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import { composeNotice, type BotSigner } from '../outbound/notice.js';
import type { StateStore } from '../store/types.js';
import { expire } from './expiry.js';
import { isExpired } from './ticket.js';

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
    const { update, notice: n } = expire(t, deps.config.threshold, now);
    const notice = await composeNotice(deps.config, deps.signer, { id: `expired:${t.id}`, ...n, inReplyTo: t.parentMessageId }, deps.logger);
    try {
      const r = await deps.store.commitEffects([update], notice.rows);
      out.push(...r.outboxIds);
      deps.logger.info({ ticket: t.id }, 'ticket expired');
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'STORE_CONFLICT')) throw err;
    }
  }
  return out;
}
