/**
 * The apply queue: the single writer of the collection (and the log). One
 * job per change request; the job id is derived from the change id, so a
 * change enqueued any number of times (after each message, by the restart
 * reconciliation) is one job. The worker runs with concurrency 1 and the
 * queue's global concurrency is 1, so even several bot processes never
 * write at once (the collection's file lock is the second line of defence).
 * The store is the authority: a change already applied is skipped (see
 * src/changes/apply.ts for the crash-safety argument).
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import { applyChange, type ApplyDeps } from '../src/changes/apply.js';
import { watchAlerts } from '../src/watch/alerts.js';
import type { LoadedConfig } from '../src/config/load.js';
import { describeError } from '../src/errors.js';
import { logErrors, silentLogger, type Logger } from '../src/logger.js';
import type { StateStore } from '../src/store/types.js';
import type { OutboundProducer } from './outbound.js';
import { jobSpec, requeue } from './requeue.js';

export const APPLY_QUEUE = 'apply';

export interface ApplyJob { changeId: string }

export function applyJobId(changeId: string): string {
  // BullMQ custom ids must not contain ':'.
  return `apply.${changeId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export class ApplyProducer {
  readonly queue: Queue<ApplyJob>;
  constructor(connection: ConnectionOptions, cfg: LoadedConfig, private readonly logger: Logger = silentLogger) {
    this.queue = new Queue<ApplyJob>(APPLY_QUEUE, { connection, prefix: cfg.queue.prefix });
    logErrors(this.queue, logger, 'apply queue');
  }

  /** Enqueue change requests; one whose job already finished (ran out of attempts) is run again. Returns the revived job ids. */
  async enqueue(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    // Every time, not once: a Redis restarted without persistence forgets it.
    await this.queue.setGlobalConcurrency(1);
    return requeue(this.queue as Queue, ids.map((changeId) => jobSpec('apply', { changeId }, applyJobId(changeId), 5, 2000)), (d: ApplyJob) => d.changeId, this.logger);
  }

  /** Enqueue every change the store still has queued (idempotent). */
  async enqueuePending(store: StateStore): Promise<number> {
    const ids = await store.pendingChanges();
    await this.enqueue(ids);
    return ids.length;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

export interface ApplyWorkerDeps extends ApplyDeps {
  connection: ConnectionOptions;
  outbound: OutboundProducer;
  /** After a change was applied (a root may have rotated the bot's key: src/root/rotation.ts). */
  afterApplied?: () => Promise<void>;
}

export function startApplyWorker(deps: ApplyWorkerDeps): Worker<ApplyJob> {
  const { connection, outbound, afterApplied, ...applyDeps } = deps;
  const worker = new Worker<ApplyJob>(APPLY_QUEUE, async (job: Job<ApplyJob>) => {
    const r = await applyChange(job.data.changeId, applyDeps);
    await outbound.enqueue(r.outboxIds);
    if (r.state === 'applied' && afterApplied) {
      try {
        await afterApplied();
      } catch (err) {
        // The change is applied; the key is adopted at the next start at the latest.
        deps.logger.error({ err: describeError(err) }, 'after-apply step failed');
      }
    }
    // Owners watching a key hear of a change to it at once (src/watch/alerts.ts);
    // a failure here leaves the cursor, and the hourly sweep tries again.
    if (r.logIndex !== null) {
      try {
        await outbound.enqueue(await watchAlerts(applyDeps));
      } catch (err) {
        deps.logger.error({ err: describeError(err) }, 'watch alerts failed');
      }
    }
    return r.state;
  }, { connection, prefix: deps.config.queue.prefix, concurrency: 1 });
  logErrors(worker, deps.logger, 'apply worker');
  worker.on('failed', (job, err) => deps.logger.error({ cid: job?.data.changeId, err: describeError(err), attempts: job?.attemptsMade }, 'apply job failed'));
  return worker;
}
