/**
 * Putting work back on a queue from the store's state.
 *
 * Every job id is derived from a store row (spool key, outbox id, change id),
 * so adding a job twice is one job. The other side of that: a job that ran
 * out of attempts stays in Redis under its id, and adding it again is a
 * no-op, so work that failed on a passing fault would never run again. The
 * store is the authority (a spool row not done, an outbox row not sent, a
 * change still queued is work to do), so such a job is moved back to wait
 * with fresh attempts. That cannot answer a message twice: every handler
 * checks the store first (spool row done, outbox row sent, change applied)
 * and the completing transaction is the only place a reply is decided.
 */
import type { Job, JobsOptions, Queue } from 'bullmq';
import { describeError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';

export interface JobSpec<T> {
  name: string;
  data: T;
  opts: JobsOptions & { jobId: string };
}

/**
 * A job keyed by its store row, retried with exponential backoff; finished
 * jobs are kept (bounded) so an id added again is recognised as one job.
 */
export function jobSpec<T>(name: string, data: T, jobId: string, attempts: number, backoffMs: number): JobSpec<T> {
  return {
    name, data,
    opts: {
      jobId, attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      removeOnComplete: { count: 10_000 },
      removeOnFail: { count: 10_000 },
    },
  };
}

/** Where a job stands: absent, live (waiting, active, delayed...) or finished, with its last error. */
export interface JobStatus {
  state: 'absent' | 'live' | 'failed' | 'completed';
  job: Job | null;
  error: string | null;
  attempts: number | null;
}

export async function jobStatus(queue: Queue, jobId: string): Promise<JobStatus> {
  const job = await queue.getJob(jobId);
  if (!job) return { state: 'absent', job: null, error: null, attempts: null };
  const s = await job.getState();
  const state = s === 'failed' || s === 'completed' ? s : s === 'unknown' ? 'absent' : 'live';
  return { state, job, error: job.failedReason || null, attempts: job.attemptsMade };
}

/**
 * Add the jobs; any of them that ran out of attempts under the same id is
 * run again with fresh attempts. A completed job is left alone: its handler
 * finished the store's work (a caller may pass an id already done). `cid`
 * names the store row of a job (the correlation id in the logs). Returns
 * the ids that were revived.
 */
export async function requeue<T extends object>(queue: Queue, jobs: JobSpec<T>[], cid: (data: T) => string, logger: Logger): Promise<string[]> {
  if (!jobs.length) return [];
  await queue.addBulk(jobs);
  return reviveFailed(queue, jobs, cid, logger);
}

/**
 * Add jobs for store rows created just now (a new spool row, the outbox rows
 * of the transaction that just committed): normally no job has run under
 * their ids, so there is nothing to revive, and the two Redis round trips
 * per job that `requeue` spends looking (getJob, getState) are saved. If an
 * old failed job does hold the id (a Redis that outlived a state.db
 * restored from a backup), the add is a no-op and the work waits for the
 * retry round (`queue.retryFailedSeconds`; `run --once` reports it as
 * stuck), which goes through `requeue` like all work found in the store.
 */
export async function enqueueFresh<T extends object>(queue: Queue, jobs: JobSpec<T>[]): Promise<void> {
  if (jobs.length) await queue.addBulk(jobs);
}

async function reviveFailed<T extends object>(queue: Queue, jobs: JobSpec<T>[], cid: (data: T) => string, logger: Logger): Promise<string[]> {
  const revived: string[] = [];
  for (const spec of jobs) {
    const done = await jobStatus(queue, spec.opts.jobId);
    if (!done.job || done.state !== 'failed') continue;
    try {
      await done.job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      revived.push(spec.opts.jobId);
      logger.warn({ cid: cid(spec.data), queue: queue.name, job: spec.opts.jobId, was: done.state, lastError: done.error, attempts: done.attempts },
        'retrying work the store still has pending');
    } catch (err) {
      // Another process moved it meanwhile (retried it, or the retention
      // limit trimmed it): add it once more, a no-op if it exists again.
      logger.debug({ cid: cid(spec.data), queue: queue.name, job: spec.opts.jobId, err: describeError(err) }, 'job moved while being retried');
      await queue.addBulk([spec]);
    }
  }
  return revived;
}
