/**
 * The inbound queue: one job per received message. The job carries only the
 * spool key (the raw bytes are in the state store, which is the authority),
 * and its id IS the spool key, derived from (mailbox, UIDVALIDITY, UID), so a
 * message fetched twice is one job. The worker runs the domain dispatcher,
 * records the outcome and replies in one store transaction, then enqueues the
 * replies; a crash between the two is repaired by `reconcile` at start.
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { LoadedConfig } from '../src/config/load.js';
import type { Dispatcher } from '../src/commands/dispatch.js';
import type { Logger } from '../src/logging.js';
import type { StateStore } from '../src/store/types.js';
import { StoreError, describeError } from '../src/errors.js';
import type { OutboundProducer } from './outbound.js';

export const INBOUND_QUEUE = 'inbound';

export interface InboundJob { key: string }

export class InboundProducer {
  readonly queue: Queue<InboundJob>;
  constructor(connection: ConnectionOptions, cfg: LoadedConfig) {
    this.queue = new Queue<InboundJob>(INBOUND_QUEUE, { connection, prefix: cfg.queue.prefix });
  }
  /** Resolves once Redis has accepted the job (the cursor may advance after this). */
  async enqueue(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await this.queue.addBulk(keys.map((key) => ({
      name: 'message',
      data: { key },
      opts: {
        jobId: key,
        attempts: 5,
        backoff: { type: 'exponential', delay: 2000 },
        removeOnComplete: { count: 10_000 },
        removeOnFail: { count: 10_000 },
      },
    })));
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
}

export async function handleInbound(key: string, deps: Omit<InboundDeps, 'connection'>): Promise<string> {
  const { store, logger, outbound } = deps;
  const log = logger.child({ cid: key });
  const row = await store.getSpooled(key);
  if (!row) {
    log.warn('spool row missing');
    return 'missing';
  }
  if (row.state === 'done') {
    // Crash after the store commit but before the outbound enqueue: make sure
    // the replies are queued (job ids make this idempotent).
    const pending = (await store.pendingOutbox());
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
      // A concurrent message used the same signature: retry, and the second
      // run sees the replay and answers so.
      log.warn('signature used concurrently; retrying to report the replay');
    }
    throw err;
  }
  await outbound.enqueue(result.outboxIds);
  log.info({ outcome: outcome.completion.outcome, applied: result.applied, reason: result.reason, command: outcome.completion.command,
    verdict: outcome.completion.verdict, replies: result.outboxIds.length }, outcome.summary);
  deps.onProcessed?.(key, result.applied ? outcome.summary : `duplicate (${result.reason})`);
  return outcome.completion.outcome;
}

export function startInboundWorker(deps: InboundDeps): Worker<InboundJob> {
  const worker = new Worker<InboundJob>(INBOUND_QUEUE, async (job: Job<InboundJob>) => handleInbound(job.data.key, deps),
    { connection: deps.connection, prefix: deps.cfg.queue.prefix, concurrency: deps.cfg.queue.inboundConcurrency });
  worker.on('error', (err) => deps.logger.error({ err: describeError(err) }, 'inbound worker error'));
  worker.on('failed', (job, err) => deps.logger.error({ cid: job?.data.key, err: describeError(err), attempts: job?.attemptsMade }, 'inbound job failed'));
  return worker;
}
