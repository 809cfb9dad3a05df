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
import type { LoadedConfig } from '../src/config/load.js';
import { describeError } from '../src/errors.js';
import type { StateStore } from '../src/store/types.js';
import type { OutboundProducer } from './outbound.js';

export const APPLY_QUEUE = 'apply';

export interface ApplyJob { changeId: string }

export function applyJobId(changeId: string): string {
  // BullMQ custom ids must not contain ':'.
  return `apply.${changeId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export class ApplyProducer {
  readonly queue: Queue<ApplyJob>;
  private globalSet = false;
  constructor(connection: ConnectionOptions, cfg: LoadedConfig) {
    this.queue = new Queue<ApplyJob>(APPLY_QUEUE, { connection, prefix: cfg.queue.prefix });
  }

  async enqueue(ids: string[]): Promise<void> {
    if (!ids.length) return;
    if (!this.globalSet) {
      await this.queue.setGlobalConcurrency(1);
      this.globalSet = true;
    }
    for (const changeId of ids) {
      // A job that exhausted its attempts (an infrastructure failure) stays
      // under its id; adding it again would be a no-op, so retry it instead.
      const old = await this.queue.getJob(applyJobId(changeId));
      if (old && (await old.getState()) === 'failed') {
        await old.retry('failed');
        continue;
      }
      await this.queue.add('apply', { changeId }, {
        jobId: applyJobId(changeId),
        attempts: 5,
        backoff: { type: 'exponential', delay: 2000 },
        removeOnComplete: { count: 10_000 },
        removeOnFail: { count: 10_000 },
      });
    }
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
}

export function startApplyWorker(deps: ApplyWorkerDeps): Worker<ApplyJob> {
  const { connection, outbound, ...applyDeps } = deps;
  const worker = new Worker<ApplyJob>(APPLY_QUEUE, async (job: Job<ApplyJob>) => {
    const r = await applyChange(job.data.changeId, applyDeps);
    await outbound.enqueue(r.outboxIds);
    return r.state;
  }, { connection, prefix: deps.config.queue.prefix, concurrency: 1 });
  worker.on('error', (err) => deps.logger.error({ err: describeError(err) }, 'apply worker error'));
  worker.on('failed', (job, err) => deps.logger.error({ change: job?.data.changeId, err: describeError(err), attempts: job?.attemptsMade }, 'apply job failed'));
  return worker;
}
