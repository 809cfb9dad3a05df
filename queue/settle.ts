/**
 * `run --once` ends when the queues are quiet, and says what is left.
 *
 * Waiting until the store has nothing pending would wait forever for work
 * whose job ran out of attempts (a store or SMTP fault that outlasted the
 * backoff). So: wait until no job is live in any queue, then compare with
 * the store, which is the authority. Work the store still has pending with
 * no job behind it (an enqueue a crash or a race skipped), or whose job
 * completed without finishing it, is enqueued once more; work whose job failed in this run, or that stays pending after that
 * extra chance, is stuck: reported by id with its last error, and retried by
 * the next start and by `run`'s retry schedule.
 */
import type { Queue } from 'bullmq';
import type { StateStore } from '../src/store/types.js';
import type { ApplyProducer } from './apply.js';
import type { InboundProducer } from './inbound.js';
import { outboundJobId, type OutboundProducer } from './outbound.js';
import { applyJobId } from './apply.js';
import { jobStatus, type JobStatus } from './requeue.js';

export type WorkQueue = 'inbound' | 'outbound' | 'apply';

export interface StuckItem {
  queue: WorkQueue;
  /** Spool key, outbox id or change id: the correlation id in the logs. */
  id: string;
  error: string | null;
  attempts: number | null;
}

export interface Producers {
  inbound: InboundProducer;
  outbound: OutboundProducer;
  apply: ApplyProducer;
}

interface Pending { queue: WorkQueue; id: string; status: JobStatus }

/** Everything the store has not finished, with the state of its job. */
async function pendingWork(store: StateStore, p: Producers): Promise<Pending[]> {
  const out: Pending[] = [];
  const add = async (queue: WorkQueue, q: Queue, ids: string[], jobId: (id: string) => string): Promise<void> => {
    for (const id of ids) out.push({ queue, id, status: await jobStatus(q, jobId(id)) });
  };
  await add('inbound', p.inbound.queue as Queue, await store.pendingSpool(), (id) => id);
  await add('outbound', p.outbound.queue as Queue, await store.pendingOutbox(), outboundJobId);
  await add('apply', p.apply.queue as Queue, await store.pendingChanges(), applyJobId);
  return out;
}

async function liveJobs(p: Producers, inProcess: () => number): Promise<number> {
  let n = inProcess();
  for (const q of [p.inbound.queue, p.outbound.queue, p.apply.queue] as Queue[]) {
    n += Object.values(await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children'))
      .reduce((x, y) => x + y, 0);
  }
  return n;
}

/** Why a stuck item has no error: it never failed, it just did not finish. */
const NO_ERROR = 'still pending after it was enqueued again; no job error recorded';

async function lastError(store: StateStore, w: Pending): Promise<string | null> {
  if (w.status.error) return w.status.error;
  if (w.queue === 'outbound') return (await store.getOutbox(w.id))?.lastError ?? NO_ERROR;
  if (w.queue === 'apply') return (await store.getChange(w.id))?.error ?? NO_ERROR;
  return NO_ERROR;
}

/**
 * How often the work was tried: a reply's hand-overs are counted on its
 * outbox row (the first of a fresh reply is made in process, without a
 * job); other work's by its job.
 */
async function attemptsOf(store: StateStore, w: Pending): Promise<number | null> {
  if (w.queue === 'outbound') return (await store.getOutbox(w.id))?.attempts ?? w.status.attempts;
  return w.status.attempts;
}

/**
 * Wait until the queues are quiet (two polls in a row with no live job, and
 * no work under way in this process: `inProcess`, queue/fresh.ts),
 * give pending work without a job one more enqueue, and return what is stuck.
 */
export async function settle(store: StateStore, p: Producers, inProcess: () => number, pollMs = 100): Promise<StuckItem[]> {
  const enqueuedHere = new Set<string>();
  for (;;) {
    for (let quiet = 0; quiet < 2;) {
      quiet = (await liveJobs(p, inProcess)) === 0 ? quiet + 1 : 0;
      if (quiet < 2) await new Promise((r) => setTimeout(r, pollMs));
    }
    const left = await pendingWork(store, p);
    if (left.some((w) => w.status.state === 'live')) continue;
    const stuck: StuckItem[] = [];
    const again: Pending[] = [];
    for (const w of left) {
      const key = `${w.queue}:${w.id}`;
      if (w.status.state === 'failed' || enqueuedHere.has(key)) {
        stuck.push({ queue: w.queue, id: w.id, error: await lastError(store, w), attempts: await attemptsOf(store, w) });
      } else {
        again.push(w);
        enqueuedHere.add(key);
      }
    }
    if (!again.length) return stuck;
    // A job that completed while the store still has its work pending (a
    // store rolled back by a power cut, say) is run once more; the handler
    // checks the store first.
    for (const w of again) {
      if (w.status.state === 'completed') await w.status.job!.retry('completed', { resetAttemptsMade: true, resetAttemptsStarted: true }).catch(() => undefined);
    }
    const ids = (q: WorkQueue) => again.filter((w) => w.queue === q).map((w) => w.id);
    await p.inbound.enqueue(ids('inbound'));
    await p.apply.enqueue(ids('apply'));
    await p.outbound.enqueue(ids('outbound'));
  }
}

const NOUN: Record<WorkQueue, string> = { inbound: 'inbound message', outbound: 'outbound mail', apply: 'apply change' };

/** The operator's summary: one line per stuck item, what to do next. */
export function describeStuck(stuck: StuckItem[]): string {
  const lines = stuck.map((s) => `  ${NOUN[s.queue]} ${s.id}: ${s.error ?? 'unknown error'}${s.attempts !== null ? ` (${s.attempts} attempts)` : ''}`);
  return [
    `run --once finished, but ${stuck.length} item${stuck.length === 1 ? ' is' : 's are'} stuck (out of attempts; the store keeps ${stuck.length === 1 ? 'it' : 'them'}):`,
    ...lines,
    'Repair the cause named above; the next `run --once` or start of `run` retries them, and `run` retries on its schedule (queue.retryFailedSeconds).',
  ].join('\n');
}
