/**
 * Fresh messages are processed in this process as intake spools them, not
 * through a BullMQ job each: a job costs three Redis scripts (add, move to
 * active, move to finished) and their round trips, which measured as much
 * as the rest of a message's handling bar its crypto. Nothing durable is
 * lost: the spool row in the store is the authority, so a crash leaves it
 * queued and the next start enqueues it (Runner.reconcile), and a message
 * whose processing throws (a store conflict, a fault) is handed to the
 * inbound queue, whose retries and backoff take it from there.
 *
 * Bounded: at most `concurrency` messages at a time, and `submit` waits
 * while more than that many are waiting, so intake cannot read ahead of the
 * work by more than a batch.
 */
import { describeError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';

export class FreshLane {
  private readonly running = new Set<string>();
  private closed = false;
  private readonly waiting: string[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly process: (key: string) => Promise<unknown>,
    /** Where a message whose processing threw goes next (the inbound queue). */
    private readonly handOver: (key: string) => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  /** Whether this message is taken and not finished (the retry round leaves it alone). */
  holds(key: string): boolean {
    return this.running.has(key) || this.waiting.includes(key);
  }

  /** Messages taken and not finished. */
  get busy(): number {
    return this.running.size + this.waiting.length;
  }

  /** Takes the keys; resolves once no more than `concurrency` wait to start (backpressure on intake). */
  async submit(keys: readonly string[]): Promise<void> {
    if (this.closed) return;
    this.waiting.push(...keys);
    this.pump();
    while (this.waiting.length > this.concurrency) await new Promise<void>((r) => this.roomWaiters.push(r));
  }

  /**
   * Starts nothing more (a stop cut short): messages waiting to start are
   * let go, still queued in the store for the next start.
   */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    for (const r of this.roomWaiters.splice(0)) r();
    if (this.busy === 0) for (const r of this.idleWaiters.splice(0)) r();
  }

  /** Resolves once every message taken has finished. */
  idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length) {
      const key = this.waiting.shift()!;
      this.running.add(key);
      this.process(key)
        .catch((err: unknown) => {
          this.logger.warn({ cid: key, err: describeError(err) }, 'processing failed, or queueing its replies did; handed to the inbound queue to retry');
          // Redis down as well: the spool row stays queued, and the retry
          // round or the next start enqueues it.
          return this.handOver(key).catch((e: unknown) => this.logger.error({ cid: key, err: describeError(e) },
            'could not hand the message to the inbound queue; the store keeps it for the retry round'));
        })
        .finally(() => {
          this.running.delete(key);
          for (const r of this.roomWaiters.splice(0)) r();
          this.pump();
          if (this.busy === 0) for (const r of this.idleWaiters.splice(0)) r();
        });
    }
  }
}
