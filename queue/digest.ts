/**
 * The digest queue: a BullMQ job scheduler (cron pattern from
 * config.digest.schedule, UTC; default Mondays 08:00) that runs one digest
 * cycle per tick (src/digest/run.ts) and hands the mails it queued in the
 * store to the outbound queue. Concurrency 1; the cycle itself also holds a
 * lock, so an operator's `digest --now` cannot race it.
 *
 * upsertJobScheduler is idempotent by scheduler id: every start of `run`
 * re-applies the configured pattern, so a changed schedule takes effect on
 * restart and two workers never create two schedules. `run --once` does
 * not start it (it drains and exits; scheduled digests are `run`'s job).
 */
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { App } from '../src/app/app.js';
import { ConfigError, describeError } from '../src/errors.js';
import { runDigestCycle, type DigestCycleResult } from '../src/digest/run.js';
import { logErrors } from '../src/logger.js';
import type { OutboundProducer } from './outbound.js';

export const DIGEST_QUEUE = 'digest';
export const DIGEST_SCHEDULER_ID = 'ztrust-digest';

export interface DigestJob {
  /** `rotation`: made at once to announce a new bot key (the cycle sees that itself). */
  reason: 'schedule' | 'rotation';
}

export interface DigestScheduler {
  queue: Queue<DigestJob>;
  worker: Worker<DigestJob>;
  /** Re-apply the schedule (idempotent): a Redis restarted without persistence has forgotten it. */
  ensureSchedule(): Promise<void>;
  /** A digest cycle now, besides the schedule. */
  runNow(reason: DigestJob['reason']): Promise<void>;
  stop(): Promise<void>;
}

/** One cycle, then its mails onto the outbound queue (idempotent job ids; rows already sent are skipped by the worker). */
export async function digestJob(app: App, outbound: OutboundProducer): Promise<DigestCycleResult> {
  const r = await runDigestCycle(app);
  await outbound.enqueue(r.outboxIds);
  return r;
}

export async function startDigestScheduler(app: App, connection: ConnectionOptions, outbound: OutboundProducer): Promise<DigestScheduler> {
  const { config: cfg, logger } = app;
  const queue = new Queue<DigestJob>(DIGEST_QUEUE, { connection, prefix: cfg.queue.prefix });
  // The job scheduler runs on this queue's connection: its errors come here.
  logErrors(queue, logger, 'digest queue');
  const upsert = () => queue.upsertJobScheduler(DIGEST_SCHEDULER_ID, { pattern: cfg.digest.schedule, tz: 'UTC' }, {
    name: 'digest',
    data: { reason: 'schedule' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  });
  try {
    await upsert();
  } catch (err) {
    await queue.close();
    // A bad cron pattern is a configuration error (exit 2), named by its key.
    throw new ConfigError('CONFIG_INVALID', `digest.schedule ${JSON.stringify(cfg.digest.schedule)} is not a cron pattern BullMQ accepts: ${describeError(err)}`, { cause: err });
  }
  const worker = new Worker<DigestJob>(DIGEST_QUEUE, async (job: Job<DigestJob>) => {
    const r = await digestJob(app, outbound);
    logger.info({ job: job.id, digest: r.digest?.number ?? null, skipped: r.skipped, resumed: r.resumed, reminders: r.reminders,
      mails: r.outboxIds.length }, r.digest ? `digest ${r.digest.number} queued` : `no digest: ${r.skipped ?? 'resumed only'}`);
    return r.digest ? `digest ${r.digest.number}` : `skipped: ${r.skipped}`;
  }, { connection, prefix: cfg.queue.prefix, concurrency: 1 });
  logErrors(worker, logger, 'digest worker');
  worker.on('failed', (job, err) => logger.error({ job: job?.id, err: describeError(err), attempts: job?.attemptsMade }, 'digest job failed'));
  return {
    queue, worker,
    async ensureSchedule() {
      await upsert();
    },
    async runNow(reason) {
      await queue.add('digest', { reason }, { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } });
    },
    async stop() {
      await worker.close();
      await queue.close();
    },
  };
}
