/**
 * Sending one outbox row: the one delivery step, used by the outbound worker
 * (queue/outbound.ts, with BullMQ's retries) and by `ztrust-bot digest --now`
 * (cli/digest.ts, which sends at once without a queue). A row already sent
 * or given up is never sent again; a failure is recorded on the row before
 * the caller decides whether to retry.
 */
import { describeError } from '../src/errors.js';
import type { StateStore } from '../src/store/types.js';
import { isPermanentSmtpError, type Transport } from './transport.js';

export type Delivery =
  | { outcome: 'missing' | 'already-sent' | 'dead' }
  | { outcome: 'sent'; recipients: string[] }
  /** Recorded on the row; `permanent`: the server refused for good (5xx), the row is dead. */
  | { outcome: 'failed'; recipients: string[]; error: unknown; permanent: boolean };

/**
 * Deliveries under way in this process. A stop that is cut short (Redis
 * unreachable: queue/runner.ts, runForever) still waits for these: an SMTP
 * exchange cut between the server's acceptance and markSent would send the
 * reply again at the next start. Each is bounded by the transport's own
 * timeouts. (Store transactions need no such wait: they are synchronous.)
 */
const underWay = new Set<Promise<Delivery>>();

/** Resolves once every delivery under way now has finished. */
export async function deliveriesSettled(): Promise<void> {
  await Promise.allSettled([...underWay]);
}

export function deliverRow(store: StateStore, transport: Transport, id: string): Promise<Delivery> {
  const p = deliver(store, transport, id);
  underWay.add(p);
  const done = (): void => { underWay.delete(p); };
  p.then(done, done);
  return p;
}

async function deliver(store: StateStore, transport: Transport, id: string): Promise<Delivery> {
  const row = await store.getOutbox(id);
  if (!row) return { outcome: 'missing' };
  if (row.status === 'sent') return { outcome: 'already-sent' };
  if (row.status === 'dead') return { outcome: 'dead' };
  await store.markSending(id);
  try {
    await transport.send(id, { from: row.envelopeFrom, to: row.recipients }, row.raw);
  } catch (error) {
    const permanent = isPermanentSmtpError(error);
    await store.markFailed(id, describeError(error), permanent);
    return { outcome: 'failed', recipients: row.recipients, error, permanent };
  }
  await store.markSent(id);
  return { outcome: 'sent', recipients: row.recipients };
}
