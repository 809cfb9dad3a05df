/**
 * The outbound queue: one job per outbox row, job id = outbox id, so the same
 * reply can be enqueued any number of times (after a crash, by the restart
 * reconciliation) and still be one job. The store row is the authority: a row
 * already marked sent is never sent again.
 *
 * Defaults: attempts from outbox.attempts (8), exponential backoff starting
 * at outbox.backoffSeconds (5 s); SMTP 5xx answers are permanent and stop
 * the retries at once (the row is marked dead: the server refused it). A row
 * whose attempts ran out on temporary failures stays pending, so the next
 * start and `run`'s retry schedule send it again (queue/requeue.ts), as a
 * mail server keeps retrying a deferred message.
 */
import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { LoadedConfig } from '../src/config/load.js';
import { logErrors, silentLogger, type Logger } from '../src/logger.js';
import type { StateStore } from '../src/store/types.js';
import type { Transport } from './transport.js';
import { deliverRow, type Delivery } from './deliver.js';
import { describeError } from '../src/errors.js';
import { OUTBOX_BOUNDS } from '../src/limits.js';
import { enqueueFresh, jobSpec, requeue, type JobSpec } from './requeue.js';

export const OUTBOUND_QUEUE = 'outbound';

export interface OutboundJob {
  outboxId: string;
  /** Sends made before the job (the first, in process: FreshSender), so the logs count attempts from the first. */
  triedBefore?: number;
}

export function outboundJobId(outboxId: string): string {
  // BullMQ custom ids must not contain ':'.
  return `out.${outboxId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export class OutboundProducer {
  readonly queue: Queue<OutboundJob>;
  constructor(connection: ConnectionOptions, private readonly cfg: LoadedConfig, private readonly logger: Logger = silentLogger) {
    this.queue = new Queue<OutboundJob>(OUTBOUND_QUEUE, { connection, prefix: cfg.queue.prefix });
    logErrors(this.queue, logger, 'outbound queue');
  }
  /** Enqueue outbox rows; one whose job already finished (ran out of attempts) is run again. Returns the revived job ids. */
  async enqueue(ids: string[]): Promise<string[]> {
    return requeue(this.queue as Queue, ids.map((id) => this.spec(id)), (d: OutboundJob) => d.outboxId, this.logger);
  }
  /** Outbox rows the transaction that just committed created (queue/requeue.ts, enqueueFresh). */
  async enqueueNew(ids: string[]): Promise<void> {
    await enqueueFresh(this.queue as Queue, ids.map((id) => this.spec(id)));
  }
  /**
   * A row whose first send (in process: FreshSender) failed for now: the
   * rest of its outbox.attempts, as the job's own retries would have made
   * them (the first after outbox.backoffSeconds, then doubling), counted on
   * from the first in the logs. With one attempt in all, nothing is added:
   * the row waits, pending, for the retry round.
   */
  async enqueueAfterFirstTry(id: string): Promise<void> {
    const left = this.cfg.outbox.attempts - 1;
    if (left < 1) return;
    const backoffMs = Math.round(this.cfg.outbox.backoffSeconds * 1000);
    const spec = jobSpec<OutboundJob>('send', { outboxId: id, triedBefore: 1 }, outboundJobId(id), left, 2 * backoffMs);
    await enqueueFresh(this.queue as Queue, [{ ...spec, opts: { ...spec.opts, delay: backoffMs } }]);
  }
  private spec(outboxId: string): JobSpec<OutboundJob> {
    return jobSpec('send', { outboxId }, outboundJobId(outboxId), this.cfg.outbox.attempts, Math.round(this.cfg.outbox.backoffSeconds * 1000));
  }
  close(): Promise<void> {
    return this.queue.close();
  }
}

/**
 * Sends the replies a message's transaction just created here and now,
 * rather than through a job each (queue/fresh.ts says why), without holding
 * up the message: at most `limit` at once (queue.outboundConcurrency, as
 * the worker). A reply that finds no free slot waits here, in memory, for
 * the next one: a BullMQ job for it cost three Redis scripts and their
 * round trips on the main thread, which in a backlog was most replies.
 * At most OUTBOX_BOUNDS.freshWaiting wait; more go to the outbound queue.
 * Nothing durable rests on the wait: the row is pending in the store,
 * which the next start (and `run`'s retry round, for rows not held here)
 * enqueues. After a temporary failure the queue makes the row's other
 * attempts, with backoff; a permanent one leaves the row dead, as in the
 * worker. Once closed (a stop, cut short or not) nothing more starts: the
 * rows waiting stay pending in the store for the next start.
 */
export class FreshSender {
  private sending = 0;
  private closed = false;
  /** Rows waiting for a slot, in the order their transactions created them. */
  private readonly waiting: string[] = [];
  private readonly held = new Set<string>();
  private readonly stopWaiters: (() => void)[] = [];
  constructor(
    private readonly limit: number,
    private readonly store: StateStore,
    private readonly transport: Transport,
    private readonly outbound: OutboundProducer,
    private readonly logger: Logger,
    private readonly maxWaiting: number = OUTBOX_BOUNDS.freshWaiting,
  ) {}

  /**
   * Starts each row's send, or puts it in line for a slot; never waits for
   * a send. Past OUTBOX_BOUNDS.freshWaiting rows in line, the rest go to the
   * outbound queue (a relay slower than the messages come).
   */
  async take(ids: readonly string[]): Promise<void> {
    if (this.closed) return;
    const overflow: string[] = [];
    for (const id of ids) {
      if (this.held.has(id)) continue;
      if (this.waiting.length >= this.maxWaiting) {
        overflow.push(id);
        continue;
      }
      this.held.add(id);
      this.waiting.push(id);
      this.pump();
    }
    if (overflow.length) await this.outbound.enqueueNew(overflow);
  }

  /** Whether this row is waiting or being sent here (the retry round leaves it alone). */
  holds(id: string): boolean {
    return this.held.has(id);
  }

  close(): void {
    this.closed = true;
    for (const id of this.waiting.splice(0)) this.held.delete(id);
  }

  /** A stop: `close`, then resolves once the sends under way (and their hand-overs to the queue) have finished. */
  async stop(): Promise<void> {
    this.close();
    while (this.sending > 0) await new Promise<void>((r) => this.stopWaiters.push(r));
  }

  /** Replies waiting for a slot, or whose send, or hand-over to the queue after it, has not finished. */
  get busy(): number {
    return this.held.size;
  }

  private pump(): void {
    while (!this.closed && this.sending < this.limit && this.waiting.length) this.start(this.waiting.shift()!);
  }

  private start(id: string): void {
    this.sending++;
    const log = this.logger.child({ cid: id });
    this.send(id, log)
      .catch((err: unknown) => log.error({ err: describeError(err) }, 'could not hand the reply to the outbound queue; the store keeps it for the retry round'))
      .finally(() => {
        this.sending--;
        this.held.delete(id);
        this.pump();
        if (this.sending === 0) for (const r of this.stopWaiters.splice(0)) r();
      });
  }

  private async send(id: string, log: Logger): Promise<void> {
    let d: Delivery;
    try {
      d = await deliverRow(this.store, this.transport, id);
    } catch (err) {
      // A store fault around the send (claiming it, or recording how it went).
      log.warn({ err: describeError(err) }, 'send failed in the store; handed to the outbound queue');
      await this.outbound.enqueue([id]);
      return;
    }
    report(d, log, this.transport.where, 1);
    if (d.outcome === 'failed' && !d.permanent) await this.outbound.enqueueAfterFirstTry(id);
  }
}

/** One log line for a delivery's outcome (the correlation id is the outbox id). */
function report(d: Delivery, log: Logger, where: string, attempt: number): void {
  if (d.outcome === 'missing') log.warn('outbox row missing: nothing to send');
  if (d.outcome === 'held') log.info({ by: d.by }, 'another process is sending this row');
  if (d.outcome === 'failed') log.warn({ err: describeError(d.error), attempt, permanent: d.permanent }, 'send failed');
  if (d.outcome === 'sent') log.info({ to: d.recipients, via: where }, 'sent');
  if (d.outcome === 'sent' && d.refused) log.warn({ refused: d.refused, via: where }, 'the server refused some recipients; the others have the mail, and it is not sent again');
}

export function startOutboundWorker(
  connection: ConnectionOptions, cfg: LoadedConfig, store: StateStore, transport: Transport, logger: Logger,
): Worker<OutboundJob> {
  const worker = new Worker<OutboundJob>(OUTBOUND_QUEUE, async (job: Job<OutboundJob>) => {
    const id = job.data.outboxId;
    const d = await deliverRow(store, transport, id);
    report(d, logger.child({ cid: id, job: job.id }), transport.where, job.attemptsMade + 1 + (job.data.triedBefore ?? 0));
    // Another process's claim: asked again after the backoff. Completing the
    // job would leave the row without one if that process's send then failed.
    if (d.outcome === 'held') throw new Error(`another process is sending this row (${d.by})`);
    if (d.outcome === 'failed') {
      // Only a permanent refusal is final. Running out of attempts on
      // temporary failures leaves the row pending for the next retry round.
      if (d.permanent) throw new UnrecoverableError(describeError(d.error));
      throw d.error;
    }
    return d.outcome;
  }, { connection, prefix: cfg.queue.prefix, concurrency: cfg.queue.outboundConcurrency });
  logErrors(worker, logger, 'outbound worker');
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      logger.error({ cid: job.data.outboxId, err: describeError(err), attempts: job.attemptsMade + (job.data.triedBefore ?? 0) }, 'outbound job ran out of attempts; retried on the next round');
    }
  });
  return worker;
}
