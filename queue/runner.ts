/**
 * The worker: intake -> inbound queue -> dispatcher -> store -> outbound
 * queue -> transport. `run` keeps going until SIGTERM/SIGINT (stop intake,
 * let in-flight jobs finish, exit 0); `once` drains the mailbox and every
 * queue, then returns.
 */
import type { Worker } from 'bullmq';
import type { App } from '../src/app.js';
import { describeError } from '../src/errors.js';
import { rawMessageId, spoolKey } from '../src/store/keys.js';
import { expireTickets } from '../src/tickets/expire.js';
import { ApplyProducer, startApplyWorker } from './apply.js';
import { InboundProducer, startInboundWorker } from './inbound.js';
import { OutboundProducer, startOutboundWorker } from './outbound.js';
import { bullConnection, connectRedis, type RedisEndpoint } from './redis.js';
import { startDigestScheduler, type DigestScheduler } from './digest.js';
import { createTransport, type Transport } from './transport.js';
import { ImapIntake } from './intake/imap.js';
import { MaildirIntake } from './intake/maildir.js';
import type { Intake, IntakeSink } from './intake/types.js';

export interface Runner {
  redis: RedisEndpoint;
  intake: Intake;
  transport: Transport;
  inbound: InboundProducer;
  outbound: OutboundProducer;
  apply: ApplyProducer;
  workers: Worker[];
  /**
   * Re-enqueue spooled messages, outbox rows and change requests a crash
   * left behind, and expire tickets that are due.
   */
  reconcile(): Promise<{ messages: number; replies: number; changes: number }>;
  /** Expire due tickets and enqueue the notices. */
  sweep(): Promise<number>;
  /** Wait until no job is waiting, active or delayed in any queue and no change is left queued. */
  waitIdle(pollMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface RunnerOptions {
  onProcessed?: (key: string, summary: string) => void;
}

export async function startRunner(app: App, opts: RunnerOptions = {}): Promise<Runner> {
  const { config: cfg, store, logger } = app;
  const redis = await connectRedis(cfg.queue.redisUrl, cfg.dataDir, cfg.queue.redisServer, logger);
  const connection = bullConnection(redis);
  const transport = createTransport(cfg);
  const outbound = new OutboundProducer(connection, cfg);
  const inbound = new InboundProducer(connection, cfg);
  const apply = new ApplyProducer(connection, cfg);
  // Change requests recorded with a message go to the apply queue once the
  // message's transaction committed (a crash in between: reconcile).
  const enqueueChanges = (): void => {
    apply.enqueuePending(store).catch((err) => logger.error({ err: describeError(err) }, 'could not enqueue change requests'));
  };

  const sink: IntakeSink = {
    async accept(msg) {
      const key = spoolKey(msg.mailbox, msg.uidValidity, msg.uid);
      const existing = await store.getSpooled(key);
      if (existing?.state === 'done') return;
      if (!existing) {
        await store.spool({
          key, mailbox: msg.mailbox, uidValidity: msg.uidValidity, uid: msg.uid, messageId: rawMessageId(msg.raw),
          raw: msg.raw, receivedAt: new Date().toISOString(), declaredSize: msg.declaredSize ?? null,
        });
      }
      await inbound.enqueue([key]);
    },
  };

  const intake: Intake = cfg.mailbox.url.startsWith('maildir:')
    ? new MaildirIntake(cfg.mailbox.url.slice('maildir:'.length), sink, logger, 2000, cfg.limits.maxMessageBytes)
    : new ImapIntake(cfg, store, sink, logger);

  // Open the transparency log before any job runs: an append a crash
  // interrupted is settled now, and a new log gets its first signed
  // checkpoint (so CHECKPOINT and VERIFY can answer). A log that cannot be
  // opened is reported; collection changes and attestations then wait (their
  // jobs fail and are retried) rather than go unlogged.
  await app.log.get().catch((err) => logger.error({ err: describeError(err) }, 'the transparency log cannot be opened'));

  const workers: Worker[] = [
    startInboundWorker({
      connection, cfg, store, dispatcher: () => app.dispatcher(), outbound, logger,
      onProcessed: (key, summary) => {
        enqueueChanges();
        opts.onProcessed?.(key, summary);
      },
    }),
    startOutboundWorker(connection, cfg, store, transport, logger),
    startApplyWorker({
      connection, outbound, config: cfg, store, signer: app.signer, policy: app.policy, logger, logAppend: app.logAppend,
      applyAttestation: app.applyAttestation,
    }),
  ];

  const runner: Runner = {
    redis, intake, transport, inbound, outbound, apply, workers,
    async reconcile() {
      const messages = await store.pendingSpool();
      await inbound.enqueue(messages);
      const changes = await apply.enqueuePending(store);
      await runner.sweep();
      const replies = await store.pendingOutbox();
      await outbound.enqueue(replies);
      if (messages.length || replies.length || changes) {
        logger.info({ messages: messages.length, replies: replies.length, changes }, 're-enqueued work left by an earlier run');
      }
      return { messages: messages.length, replies: replies.length, changes };
    },
    async sweep() {
      const ids = await expireTickets({ config: cfg, store, signer: app.signer, logger });
      await outbound.enqueue(ids);
      return ids.length;
    },
    async waitIdle(pollMs = 100) {
      let quiet = 0;
      const count = async (q: { getJobCounts(...t: ('waiting' | 'active' | 'delayed' | 'prioritized')[]): Promise<Record<string, number>> }) =>
        Object.values(await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).reduce((x, y) => x + y, 0);
      const retried = new Set<string>();
      while (quiet < 2) {
        const busy = (await count(inbound.queue)) + (await count(outbound.queue));
        const applying = await count(apply.queue);
        const pending = (await store.pendingSpool()).length;
        let changes = (await store.pendingChanges()).length;
        if (changes > 0 && applying === 0) {
          // A change still queued in the store with no job for it (its
          // enqueue failed, or its job ran out of attempts): enqueue (or
          // retry) it once; one that fails again is left for the operator
          // (logged by the worker) instead of waiting forever.
          const fresh = (await store.pendingChanges()).filter((id) => !retried.has(id));
          for (const id of fresh) retried.add(id);
          if (fresh.length) await apply.enqueue(fresh);
          else changes = 0;
        }
        quiet = busy === 0 && applying === 0 && pending === 0 && changes === 0 ? quiet + 1 : 0;
        if (quiet < 2) await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async stop() {
      await intake.stop().catch((err) => logger.warn({ err: describeError(err) }, 'intake stop failed'));
      // Worker.close() waits for the jobs in flight to finish.
      await Promise.all(workers.map((w) => w.close()));
      await inbound.close();
      await outbound.close();
      await apply.close();
      transport.close();
      await redis.stop();
    },
  };
  return runner;
}

/** `run --once`: drain the mailbox and all queues, then stop. */
export async function runOnce(app: App, opts: RunnerOptions = {}): Promise<void> {
  const runner = await startRunner(app, opts);
  try {
    await runner.reconcile();
    await runner.intake.drainOnce();
    await runner.waitIdle();
    // Replies whose enqueue a crash interrupted are in the store only.
    const left = await runner.reconcile();
    if (left.messages || left.replies) await runner.waitIdle();
  } finally {
    await runner.stop();
  }
}

/** `run`: until SIGTERM/SIGINT. Resolves after a clean stop. */
export async function runForever(app: App, opts: RunnerOptions = {}): Promise<void> {
  const runner = await startRunner(app, opts);
  await runner.reconcile();
  runner.intake.start();
  // Ticket expiry is checked hourly (and at every start, by reconcile).
  const sweeper = setInterval(() => {
    runner.sweep().catch((err) => app.logger.error({ err: describeError(err) }, 'ticket expiry sweep failed'));
  }, 3600_000);
  sweeper.unref();
  // Digests on their schedule: `run` only (`run --once` drains and exits).
  let digests: DigestScheduler;
  try {
    digests = await startDigestScheduler(app, bullConnection(runner.redis), runner.outbound);
  } catch (err) {
    clearInterval(sweeper);
    await runner.stop();
    throw err;
  }
  app.logger.info({ mailbox: runner.intake.where, outbox: runner.transport.where, queue: runner.redis.where }, 'ztrust-bot running');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      clearInterval(sweeper);
      app.logger.info({ signal: sig }, 'stopping: intake closed, finishing jobs in flight');
      digests.stop()
        .catch((err) => app.logger.warn({ err: describeError(err) }, 'digest scheduler stop failed'))
        .then(() => runner.stop())
        .then(resolve, (err) => {
          app.logger.error({ err: describeError(err) }, 'unclean stop');
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
