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
import { InboundProducer, startInboundWorker } from './inbound.js';
import { OutboundProducer, startOutboundWorker } from './outbound.js';
import { bullConnection, connectRedis, type RedisEndpoint } from './redis.js';
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
  workers: Worker[];
  /** Re-enqueue spooled messages and outbox rows a crash left behind. */
  reconcile(): Promise<{ messages: number; replies: number }>;
  /** Wait until no job is waiting, active or delayed in either queue. */
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

  const sink: IntakeSink = {
    async accept(msg) {
      const key = spoolKey(msg.mailbox, msg.uidValidity, msg.uid);
      const existing = await store.getSpooled(key);
      if (existing?.state === 'done') return;
      if (!existing) {
        await store.spool({
          key, mailbox: msg.mailbox, uidValidity: msg.uidValidity, uid: msg.uid, messageId: rawMessageId(msg.raw),
          raw: msg.raw, receivedAt: new Date().toISOString(),
        });
      }
      await inbound.enqueue([key]);
    },
  };

  const intake: Intake = cfg.mailbox.url.startsWith('maildir:')
    ? new MaildirIntake(cfg.mailbox.url.slice('maildir:'.length), sink, logger, 2000, cfg.limits.maxMessageBytes)
    : new ImapIntake(cfg, store, sink, logger);

  const workers: Worker[] = [
    startInboundWorker({ connection, cfg, store, dispatcher: () => app.dispatcher(), outbound, logger, onProcessed: opts.onProcessed }),
    startOutboundWorker(connection, cfg, store, transport, logger),
  ];

  const runner: Runner = {
    redis, intake, transport, inbound, outbound, workers,
    async reconcile() {
      const messages = await store.pendingSpool();
      await inbound.enqueue(messages);
      const replies = await store.pendingOutbox();
      await outbound.enqueue(replies);
      if (messages.length || replies.length) logger.info({ messages: messages.length, replies: replies.length }, 're-enqueued work left by an earlier run');
      return { messages: messages.length, replies: replies.length };
    },
    async waitIdle(pollMs = 100) {
      let quiet = 0;
      while (quiet < 2) {
        const a = await inbound.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        const b = await outbound.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        const busy = Object.values(a).reduce((x, y) => x + y, 0) + Object.values(b).reduce((x, y) => x + y, 0);
        const pending = (await store.pendingSpool()).length;
        quiet = busy === 0 && pending === 0 ? quiet + 1 : 0;
        if (quiet < 2) await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async stop() {
      await intake.stop().catch((err) => logger.warn({ err: describeError(err) }, 'intake stop failed'));
      // Worker.close() waits for the jobs in flight to finish.
      await Promise.all(workers.map((w) => w.close()));
      await inbound.close();
      await outbound.close();
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
  app.logger.info({ mailbox: runner.intake.where, outbox: runner.transport.where, queue: runner.redis.where }, 'ztrust-bot running');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal: sig }, 'stopping: intake closed, finishing jobs in flight');
      runner.stop().then(resolve, (err) => {
        app.logger.error({ err: describeError(err) }, 'unclean stop');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
