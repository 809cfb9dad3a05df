/**
 * Sending one outbox row: the one delivery step, used by the outbound worker
 * (queue/outbound.ts, with BullMQ's retries) and by `ztrust-bot digest --now`
 * (cli/digest.ts, which sends at once without a queue). A row is sent only
 * by the sender that claimed it in the store (src/store/claim.ts: never by
 * two processes at once), only once within this process (a second request
 * for a row under way waits for the first), and never again once sent or
 * given up; a failure is recorded on the row before the caller decides
 * whether to retry.
 */
import { describeError } from '../src/errors.js';
import { THIS_SENDER } from '../src/store/claim.js';
import type { StateStore } from '../src/store/types.js';
import { InFlight } from './in-flight.js';
import { isPermanentSmtpError, type Transport } from './transport.js';

export type Delivery =
  | { outcome: 'missing' | 'already-sent' | 'dead' }
  /** Another process claimed the row and is sending it (or was, within the claim's bound). */
  | { outcome: 'held'; by: string }
  /** `refused`: recipients the server refused while taking the mail for the others (the row is sent: the others have it). */
  | { outcome: 'sent'; recipients: string[]; refused?: string[] }
  /** Recorded on the row; `permanent`: the server refused for good (5xx), the row is dead. */
  | { outcome: 'failed'; recipients: string[]; error: unknown; permanent: boolean };

/**
 * Deliveries under way in this process, by outbox id. A second request for
 * the same row (the retry round or `run --once`'s settle enqueueing a row a
 * fresh reply is being sent from) gets the first one's result instead of
 * sending it again: the store's claim cannot tell this process's two
 * callers apart. A stop that is cut short (Redis unreachable:
 * queue/runner.ts, cutShort, from runForever and runOnce) still waits for
 * these: an SMTP exchange cut between the server's acceptance and markSent
 * would send the reply again at the next start. Each is bounded by the
 * transport's own timeouts. (Store transactions need no such wait: they are
 * synchronous.)
 */
const underWay = new InFlight<Delivery>();

/** How many deliveries are under way in this process. */
export function deliveriesUnderWay(): number {
  return underWay.size;
}

/** Resolves once every delivery under way now has finished. */
export function deliveriesSettled(): Promise<void> {
  return underWay.settled();
}

export function deliverRow(store: StateStore, transport: Transport, id: string): Promise<Delivery> {
  return underWay.run(id, () => deliver(store, transport, id));
}

async function deliver(store: StateStore, transport: Transport, id: string): Promise<Delivery> {
  const claim = await store.claimSending(id, THIS_SENDER);
  if ('refused' in claim) {
    if (claim.refused === 'held') return { outcome: 'held', by: claim.by };
    return { outcome: claim.refused === 'sent' ? 'already-sent' : claim.refused };
  }
  const { row } = claim;
  let refused: string[];
  try {
    refused = (await transport.send(id, { from: row.envelopeFrom, to: row.recipients }, row.raw))?.refused ?? [];
  } catch (error) {
    const permanent = isPermanentSmtpError(error);
    await store.markFailed(id, describeError(error), permanent);
    return { outcome: 'failed', recipients: row.recipients, error, permanent };
  }
  await store.markSent(id);
  return { outcome: 'sent', recipients: row.recipients, ...(refused.length ? { refused } : {}) };
}
