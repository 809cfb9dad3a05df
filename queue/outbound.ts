/**
 * The outbound queue: one job per outbox row, job id = outbox id, so the same
 * reply can be enqueued any number of times (after a crash, by the restart
 * reconciliation) and still be one job. The store row is the authority: a row
 * already marked sent is never sent again.
 *
 * Defaults: attempts from outbox.attempts (8), exponential backoff starting
 * at outbox.backoffSeconds (5 s); SMTP 5xx answers are permanent and stop
 * the retries at once.
 */
import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { LoadedConfig } from '../src/config/load.js';
import type { Logger } from '../src/logging.js';
import type { StateStore } from '../src/store/types.js';
import { isPermanentSmtpError, type Transport } from './transport.js';
import { describeError } from '../src/errors.js';

export const OUTBOUND_QUEUE = 'outbound';

export interface OutboundJob { outboxId: string }

export function outboundJobId(outboxId: string): string {
  // BullMQ custom ids must not contain ':'.
  return `out.${outboxId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export class OutboundProducer {
  readonly queue: Queue<OutboundJob>;
  constructor(connection: ConnectionOptions, private readonly cfg: LoadedConfig) {
    this.queue = new Queue<OutboundJob>(OUTBOUND_QUEUE, { connection, prefix: cfg.queue.prefix });
  }
  async enqueue(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.queue.addBulk(ids.map((outboxId) => ({
      name: 'send',
      data: { outboxId },
      opts: {
        jobId: outboundJobId(outboxId),
        attempts: this.cfg.outbox.attempts,
        backoff: { type: 'exponential', delay: Math.round(this.cfg.outbox.backoffSeconds * 1000) },
        removeOnComplete: { count: 10_000 },
        removeOnFail: { count: 10_000 },
      },
    })));
  }
  close(): Promise<void> {
    return this.queue.close();
  }
}

export function startOutboundWorker(
  connection: ConnectionOptions, cfg: LoadedConfig, store: StateStore, transport: Transport, logger: Logger,
): Worker<OutboundJob> {
  const worker = new Worker<OutboundJob>(OUTBOUND_QUEUE, async (job: Job<OutboundJob>) => {
    const id = job.data.outboxId;
    const log = logger.child({ cid: id, job: job.id });
    const row = await store.getOutbox(id);
    if (!row) {
      log.warn('outbox row missing: nothing to send');
      return 'missing';
    }
    if (row.status === 'sent') return 'already-sent';
    if (row.status === 'dead') return 'dead';
    await store.markSending(id);
    try {
      await transport.send(id, { from: row.envelopeFrom, to: row.recipients }, row.raw);
    } catch (err) {
      const permanent = isPermanentSmtpError(err);
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      await store.markFailed(id, describeError(err), permanent || last);
      log.warn({ err: describeError(err), attempt: job.attemptsMade + 1, permanent }, 'send failed');
      if (permanent) throw new UnrecoverableError(describeError(err));
      throw err;
    }
    await store.markSent(id);
    log.info({ to: row.recipients, via: transport.where }, 'sent');
    return 'sent';
  }, { connection, prefix: cfg.queue.prefix, concurrency: cfg.queue.outboundConcurrency });
  worker.on('error', (err) => logger.error({ err: describeError(err) }, 'outbound worker error'));
  return worker;
}
