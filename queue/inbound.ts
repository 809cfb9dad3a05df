/**
 * Processing a spooled message (handleInbound), and the inbound queue. A
 * message spooled just now is processed in process (queue/fresh.ts); the
 * queue has one job per message that failed there, or that a start or the
 * retry round found unfinished in the store. The job carries only the
 * spool key (the raw bytes are in the state store, which is the authority),
 * and its id IS the spool key, derived from (mailbox, UIDVALIDITY, UID), so a
 * message fetched twice is one job. The worker runs the domain dispatcher,
 * records the outcome and replies in one store transaction, then sends the
 * replies (fresh) or enqueues them; a crash between the two is repaired by
 * `reconcile` at start.
 * A job that ran out of attempts is run again from the store's state (a
 * spool row not done) at the next start and on `run`'s retry schedule
 * (queue/requeue.ts).
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { LoadedConfig } from '../src/config/load.js';
import type { Dispatcher } from '../src/commands/dispatch.js';
import { logErrors, silentLogger, type Logger } from '../src/logger.js';
import type { StateStore } from '../src/store/types.js';
import { StoreError, describeError } from '../src/errors.js';
import { beforeDeadline, MESSAGE_BOUNDS } from '../src/limits.js';
import type { OutboundProducer } from './outbound.js';
import { InFlight } from './in-flight.js';
import { enqueueFresh, jobSpec, requeue, type JobSpec } from './requeue.js';

export const INBOUND_QUEUE = 'inbound';

export interface InboundJob { key: string }

export class InboundProducer {
  readonly queue: Queue<InboundJob>;
  constructor(connection: ConnectionOptions, cfg: LoadedConfig, private readonly logger: Logger = silentLogger) {
    this.queue = new Queue<InboundJob>(INBOUND_QUEUE, { connection, prefix: cfg.queue.prefix });
    logErrors(this.queue, logger, 'inbound queue');
  }
  /**
   * Resolves once Redis has accepted the jobs (the cursor may advance after
   * this). A key whose job already finished (ran out of attempts) is run
   * again: the caller passes only keys the store still has queued.
   */
  async enqueue(keys: string[]): Promise<string[]> {
    return requeue(this.queue as Queue, keys.map((key) => this.spec(key)), (d: InboundJob) => d.key, this.logger);
  }
  /** Messages spooled just now (queue/requeue.ts, enqueueFresh). */
  async enqueueNew(keys: string[]): Promise<void> {
    await enqueueFresh(this.queue as Queue, keys.map((key) => this.spec(key)));
  }
  private spec(key: string): JobSpec<InboundJob> {
    return jobSpec('message', { key }, key, 5, 2000);
  }
  close(): Promise<void> {
    return this.queue.close();
  }
}

export interface InboundDeps {
  connection: ConnectionOptions;
  cfg: LoadedConfig;
  store: StateStore;
  dispatcher: () => Promise<Dispatcher>;
  outbound: OutboundProducer;
  logger: Logger;
  onProcessed?: (key: string, summary: string) => void;
  /**
   * Hand the replies a message's transaction created to this process's
   * sender (queue/outbound.ts, FreshSender: sent at once, or in line for a
   * free slot); without it they are enqueued.
   */
  sendNow?: (outboxIds: readonly string[]) => Promise<void>;
  /** The bound on one message's processing (MESSAGE_BOUNDS.processMs unless given: tests). */
  processMs?: number;
}

/**
 * Messages being processed in this process, by spool key. A second request
 * for one (a job the retry round or `run --once`'s settle added for a key
 * the fresh lane holds: queue/fresh.ts) waits for the first and gets its
 * outcome, rather than running the dispatcher on it again.
 */
const processing = new InFlight<string>();

/**
 * Processes the spooled message `key`, bounded (src/limits.ts, processMs):
 * at the deadline this attempt fails (the caller's slot is free and the
 * message is tried again with backoff) while the work itself, which
 * JavaScript cannot stop, goes on holding the key, so a later attempt joins
 * it rather than running a second dispatcher on the same message. If it
 * ever finishes, it commits and sends as usual, once.
 */
export function handleInbound(key: string, deps: Omit<InboundDeps, 'connection'>): Promise<string> {
  return beforeDeadline(processing.run(key, () => processSpooled(key, deps)), deps.processMs ?? MESSAGE_BOUNDS.processMs, 'LIMIT_PROCESS_TIME');
}

async function processSpooled(key: string, deps: Omit<InboundDeps, 'connection'>): Promise<string> {
  const { store, logger, outbound } = deps;
  const log = logger.child({ cid: key });
  const row = await store.getSpooled(key);
  if (!row) {
    log.warn('spool row missing');
    return 'missing';
  }
  if (row.state === 'done') {
    // Crash after the store commit but before the outbound enqueue: make sure
    // this message's replies are queued (job ids make this idempotent). Only
    // its own: with thousands of replies waiting for a mail server that is
    // down, every message asked for again would enqueue them all again.
    const pending = await store.pendingOutbox(key);
    await outbound.enqueue(pending);
    return 'already-done';
  }
  const dispatcher = await deps.dispatcher();
  const outcome = await dispatcher.processMessage(row);
  let result;
  try {
    result = await store.complete(outcome.completion);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'STORE_CONFLICT') {
      // A concurrent message changed what this one was decided on (it used
      // the same signature, or approved the same root draft): retry, and
      // the second run sees it (the replay, both approvals) and answers so.
      log.warn({ err: err.message }, 'a concurrent message changed what this one was decided on; retrying');
    }
    throw err;
  }
  if (deps.sendNow) await deps.sendNow(result.outboxIds);
  else await outbound.enqueueNew(result.outboxIds);
  log.info({ outcome: outcome.completion.outcome, applied: result.applied, reason: result.reason, command: outcome.completion.command,
    verdict: outcome.completion.verdict, replies: result.outboxIds.length }, outcome.summary);
  deps.onProcessed?.(key, result.applied ? outcome.summary : `duplicate (${result.reason})`);
  return outcome.completion.outcome;
}

export function startInboundWorker(deps: InboundDeps): Worker<InboundJob> {
  const worker = new Worker<InboundJob>(INBOUND_QUEUE, async (job: Job<InboundJob>) => handleInbound(job.data.key, deps),
    { connection: deps.connection, prefix: deps.cfg.queue.prefix, concurrency: deps.cfg.queue.inboundConcurrency });
  logErrors(worker, deps.logger, 'inbound worker');
  worker.on('failed', (job, err) => deps.logger.error({ cid: job?.data.key, err: describeError(err), attempts: job?.attemptsMade }, 'inbound job failed'));
  return worker;
}
