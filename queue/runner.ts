/**
 * The worker: intake -> spool -> dispatcher -> store -> transport, at once
 * for fresh messages (queue/fresh.ts), through the inbound and outbound
 * queues for what fails and what the store has left unfinished. `run`
 * keeps going until SIGTERM/SIGINT (stop intake, let the work in flight
 * finish, exit 0); `once` drains the mailbox and every queue, then returns.
 */
import type { Worker } from 'bullmq';
import type { App } from '../src/app/app.js';
import { describeError, QueueError } from '../src/errors.js';
import { logRateLimited } from '../src/logger.js';
import { rawMessageId, spoolKey } from '../src/store/keys.js';
import type { SpoolRecord } from '../src/store/types.js';
import { expireTickets } from '../src/tickets/sweep.js';
import { rootReminders } from '../src/root/reminders.js';
import { watchAlerts } from '../src/watch/alerts.js';
import { ApplyProducer, startApplyWorker } from './apply.js';
import { FreshLane } from './fresh.js';
import { handleInbound, InboundProducer, startInboundWorker } from './inbound.js';
import { FreshSender, OutboundProducer, startOutboundWorker } from './outbound.js';
import { bullConnection, connectRedis, pingRedis, retryForAWhile, type RedisEndpoint } from './redis.js';
import { deliveriesSettled, deliveriesUnderWay } from './deliver.js';
import { startDigestScheduler, type DigestScheduler } from './digest.js';
import { rotationPending } from '../src/digest/run.js';
import { quietListPost, TRIAGED_OUTCOME } from '../src/commands/triage.js';
import { createTransport, type Transport } from './transport.js';
import { describeStuck, settle, type StuckItem } from './settle.js';
import { ImapIntake } from './intake/imap.js';
import { defaultVerifyThreads, VerifyPool } from './verify-pool.js';
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
   * left behind (or whose jobs ran out of attempts), and expire tickets
   * that are due.
   */
  reconcile(): Promise<{ messages: number; replies: number; changes: number }>;
  /**
   * Enqueue every message, reply and change the store has not finished; a
   * job that ran out of attempts is run again with fresh attempts. Returns
   * the counts, and how many finished jobs were revived.
   */
  requeueFromStore(): Promise<{ messages: number; replies: number; changes: number; revived: number }>;
  /** Expire due tickets and enqueue the notices. */
  sweep(): Promise<number>;
  /** Wait until no job is live in any queue; return the work the store still has pending that failed (queue/settle.ts). */
  settle(pollMs?: number): Promise<StuckItem[]>;
  stop(): Promise<void>;
  /**
   * For a stop that cannot wait for the queues (Redis unreachable): nothing
   * more is started in process, and the SMTP deliveries under way finish
   * (a cut one could send its reply twice). What was not finished stays
   * pending in the store for the next start.
   */
  cutShort(): Promise<void>;
}

export interface RunnerOptions {
  onProcessed?: (key: string, summary: string) => void;
  /**
   * Called when a root the apply step published made the waiting next key
   * the bot's key (src/root/rotation.ts): `run` makes the digest that
   * announces it at once.
   */
  onBotKeyRotated?: () => void;
}

/**
 * How long a start waits for an external Redis that does not answer yet
 * (queue/redis.ts, connectRedis): longer than a restart takes, short
 * enough that a wrong queue.redisUrl is reported while someone watches.
 */
const REDIS_START_WAIT_MS = 10_000;

export async function startRunner(app: App, opts: RunnerOptions = {}): Promise<Runner> {
  const { config: cfg, store, logger } = app;
  store.checkpointInBackground?.((reason) => logger.warn({ reason }, 'the store\'s checkpoint thread stopped; the worker checkpoints the store itself again'));
  const redis = await connectRedis(cfg.queue.redisUrl, cfg.dataDir, cfg.queue.redisServer, logger, REDIS_START_WAIT_MS);
  const connection = bullConnection(redis);
  const transport = createTransport(cfg);
  const outbound = new OutboundProducer(connection, cfg, logger);
  const inbound = new InboundProducer(connection, cfg, logger);
  const apply = new ApplyProducer(connection, cfg, logger);
  // Change requests recorded with a message go to the apply queue once the
  // message's transaction committed (a crash in between: reconcile).
  const enqueueChanges = (): void => {
    apply.enqueuePending(store).catch((err) => logger.error({ err: describeError(err) }, 'could not enqueue change requests'));
  };
  // Signature checks on threads of their own, beside this one (queue/verify-pool.ts).
  const verifyPool = new VerifyPool({ dataDir: cfg.dataDir, policy: app.policy, limits: cfg.limits }, cfg.queue.verifyThreads ?? defaultVerifyThreads(), logger);
  if (verifyPool.count > 0) app.verifyElsewhere = (raw, now, head, local) => verifyPool.verify(raw, now, head, local);
  const inboundDeps = {
    cfg, store, dispatcher: () => app.dispatcher(), outbound, logger,
    onProcessed: (key: string, summary: string) => {
      enqueueChanges();
      opts.onProcessed?.(key, summary);
    },
  };
  // Messages spooled just now, and their replies, are handled here and now;
  // what fails, and what the store finds left over, goes through the queues.
  const freshSender = new FreshSender(cfg.queue.outboundConcurrency, store, transport, outbound, logger);
  const freshLane = new FreshLane(cfg.queue.inboundConcurrency,
    (key) => handleInbound(key, { ...inboundDeps, sendNow: (ids) => freshSender.take(ids) }),
    (key) => inbound.enqueue([key]), logger);

  const sink: IntakeSink = {
    async accept(msgs) {
      const fresh: string[] = [];
      const again: string[] = [];
      // List posts the dispatcher would certainly ignore (src/commands/triage.ts):
      // recorded as done in one transaction, never spooled, queued or parsed.
      const quiet: Omit<SpoolRecord, 'raw' | 'declaredSize'>[] = [];
      const toSpool: SpoolRecord[] = [];
      const keys = msgs.map((msg) => spoolKey(msg.mailbox, msg.uidValidity, msg.uid));
      const states = await store.spoolStates(keys);
      for (const [i, msg] of msgs.entries()) {
        const key = keys[i];
        const existing = states.get(key);
        if (existing === 'done') continue;
        if (existing) {
          // Spooled by an earlier fetch: its job may have run out of attempts.
          again.push(key);
          continue;
        }
        if (msg.declaredSize === undefined && quietListPost(msg.raw, cfg.limits) !== null) {
          quiet.push({ key, mailbox: msg.mailbox, uidValidity: msg.uidValidity, uid: msg.uid, messageId: rawMessageId(msg.raw), receivedAt: new Date().toISOString() });
          continue;
        }
        toSpool.push({
          key, mailbox: msg.mailbox, uidValidity: msg.uidValidity, uid: msg.uid, messageId: rawMessageId(msg.raw),
          raw: msg.raw, receivedAt: new Date().toISOString(), declaredSize: msg.declaredSize ?? null,
        });
      }
      // The batch in one transaction, in mailbox order.
      const added = await store.spoolBatch(toSpool);
      // Spooled meanwhile by another fetch of the same message: revive, not fresh.
      for (const [i, rec] of toSpool.entries()) (added[i] ? fresh : again).push(rec.key);
      // Fresh first: a queue that cannot be reached holds up only the others.
      await freshLane.submit(fresh);
      await inbound.enqueue(again);
      if (quiet.length) {
        const recorded = await store.spoolIgnored(quiet, TRIAGED_OUTCOME);
        logger.info({ ignored: recorded.length }, 'list posts without a command ignored at intake');
        for (const key of recorded) opts.onProcessed?.(key, 'ignored (list traffic without a command)');
      }
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
    startInboundWorker({ connection, ...inboundDeps }),
    startOutboundWorker(connection, cfg, store, transport, logger),
    startApplyWorker({
      connection, outbound, config: cfg, store, signer: app.signer, policy: app.policy, logger, logAppend: app.logAppend,
      applyAttestation: app.applyAttestation,
      afterApplied: async () => {
        if (await app.adoptRootBotKey()) opts.onBotKeyRotated?.();
      },
    }),
  ];

  const runner: Runner = {
    redis, intake, transport, inbound, outbound, apply, workers,
    async requeueFromStore() {
      // Not those the fresh lane holds: a job would race it for them.
      const messages = (await store.pendingSpool()).filter((key) => !freshLane.holds(key));
      const revived = (await inbound.enqueue(messages)).length;
      const changes = await store.pendingChanges();
      const revivedChanges = (await apply.enqueue(changes)).length;
      // Nor the replies the fresh sender holds (waiting for a slot or being sent).
      const replies = (await store.pendingOutbox()).filter((id) => !freshSender.holds(id));
      const revivedReplies = (await outbound.enqueue(replies)).length;
      return { messages: messages.length, replies: replies.length, changes: changes.length, revived: revived + revivedChanges + revivedReplies };
    },
    async reconcile() {
      const { messages, replies, changes } = await runner.requeueFromStore();
      // The sweep enqueues the notices it writes itself.
      await runner.sweep();
      if (messages || replies || changes) {
        logger.info({ messages, replies, changes }, 're-enqueued work left by an earlier run');
      }
      return { messages, replies, changes };
    },
    async sweep() {
      const ids = [
        ...await expireTickets({ config: cfg, store, signer: app.signer, logger }),
        // Trust-root expiry reminders ride on the same periodic sweep (src/root/reminders.ts).
        ...await rootReminders({ config: cfg, store, signer: app.signer, policy: app.policy, logger }).catch((err: unknown) => {
          logger.error({ err: describeError(err) }, 'trust root expiry reminders failed');
          return [];
        }),
        // Watch alerts the apply worker could not send (src/watch/alerts.ts).
        ...await watchAlerts({ config: cfg, store, signer: app.signer, logger }).catch((err: unknown) => {
          logger.error({ err: describeError(err) }, 'watch alerts failed');
          return [];
        }),
      ];
      await outbound.enqueue(ids);
      return ids.length;
    },
    settle(pollMs = 100) {
      return settle(store, { inbound, outbound, apply }, () => freshLane.busy + freshSender.busy + deliveriesUnderWay(), pollMs);
    },
    async cutShort() {
      freshLane.close();
      freshSender.close();
      // No new send from here on, not even from a job the queue hands over
      // if Redis comes back meanwhile (the process is about to exit, which
      // would cut it between the server's 250 and the row marked sent): the
      // transport refuses (the row stays pending), and the workers take no
      // more jobs (a forced close: not waited for, Redis may be gone).
      transport.close();
      for (const w of workers) void w.close(true).catch(() => undefined);
      // The SMTP exchanges already under way finish.
      while (deliveriesUnderWay() > 0) await deliveriesSettled();
    },
    async stop() {
      await intake.stop().catch((err) => logger.warn({ err: describeError(err) }, 'intake stop failed'));
      // Messages the fresh lane took finish first, and the replies they
      // started: they may hand work to the queues closed below. Replies
      // still waiting for a send slot are not started (they stay pending in
      // the store for the next start): one started now could be cut by the
      // exit between the server's acceptance and the row marked sent.
      await freshLane.idle();
      await freshSender.stop();
      await deliveriesSettled();
      // Worker.close() waits for the jobs in flight to finish.
      await Promise.all(workers.map((w) => w.close()));
      await inbound.close();
      await outbound.close();
      await apply.close();
      transport.close();
      app.verifyElsewhere = null;
      await verifyPool.close();
      await redis.stop();
    },
  };
  return runner;
}

export interface OnceReport {
  /** Work the store still has pending whose jobs ran out of attempts in this run. */
  stuck: StuckItem[];
}

/**
 * How long `run --once` goes on while Redis does not answer before it stops
 * without it (see runOnce). Redis is asked every REDIS_WATCH_MS.
 */
export const ONCE_REDIS_LOST_MS = 30_000;
const REDIS_WATCH_MS = 5_000;

/**
 * `run --once`: retry what earlier runs left (failed jobs included), drain
 * the mailbox and all queues, then stop. It always finishes: work that runs
 * out of attempts is reported (one JSON log line), not waited for, and a
 * Redis that stops answering for ONCE_REDIS_LOST_MS ends it with a
 * QUEUE_CONNECT error (exit 1). BullMQ and ioredis wait for Redis without
 * end, so without this a run from cron during an outage would never return
 * and the next ones would pile up behind it. It stops as `run` does when
 * stopped during an outage (cutShort: no new send starts, the SMTP
 * deliveries under way finish), and what is left stays pending in the
 * store for the next run. After QUEUE_CONNECT the caller must end the
 * process: the queue clients and work left behind still wait for Redis.
 */
export async function runOnce(app: App, opts: RunnerOptions = {}): Promise<OnceReport> {
  const runner = await startRunner(app, opts);
  // Watched from the first queue call to the last: the work, and the stop
  // after it (closing the queues waits for Redis too), also after a failure.
  const watch = watchRedis(runner.redis.options, ONCE_REDIS_LOST_MS);
  const lost = async (): Promise<never> => {
    app.logger.error({ queue: runner.redis.where },
      'run --once stopping without the queue: Redis does not answer; what is not finished stays in the store for the next run');
    await runner.cutShort();
    throw new QueueError('QUEUE_CONNECT', `Redis at ${runner.redis.where} has not answered for about ${ONCE_REDIS_LOST_MS / 1000} s: run --once stopped; the store keeps what is not finished, and the next run takes it up`);
  };
  try {
    const work = (async () => {
      await runner.reconcile();
      await runner.intake.drainOnce();
      return runner.settle();
    })();
    // Left behind when Redis is lost: its next Redis call would wait for
    // ever. Its store writes are transactions, so nothing is half done.
    const done = await Promise.race([work.then((stuck) => ({ stuck }), (error: unknown) => ({ error })), watch.lost]);
    if (done === 'lost') return await lost();
    if (await Promise.race([runner.stop().then(() => 'stopped' as const), watch.lost]) === 'lost') {
      if ('error' in done) app.logger.error({ err: describeError(done.error) }, 'run --once failed, then lost its queue while stopping');
      await lost();
    }
    if ('error' in done) throw done.error;
    if (done.stuck.length) app.logger.error({ stuck: done.stuck, count: done.stuck.length }, describeStuck(done.stuck).split('\n')[0]);
    return { stuck: done.stuck };
  } finally {
    watch.stop();
  }
}

/** Resolves `lost` once Redis has not answered a ping for `lostMs` in a row. */
function watchRedis(options: RedisEndpoint['options'], lostMs: number): { lost: Promise<'lost'>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let answeredAt = Date.now();
  const lost = new Promise<'lost'>((resolve) => {
    const check = (): void => {
      void pingRedis(options, REDIS_PING_MS).then((up) => {
        if (stopped) return;
        if (up) answeredAt = Date.now();
        if (Date.now() - answeredAt >= lostMs) resolve('lost');
        else timer = setTimeout(check, REDIS_WATCH_MS);
      });
    };
    timer = setTimeout(check, REDIS_WATCH_MS);
  });
  return { lost, stop: () => { stopped = true; clearTimeout(timer); } };
}

/** How long `run` keeps trying its first re-enqueue when Redis is not there yet. */
const STARTUP_RETRY_MS = 60_000;

/**
 * While stopping, how often `run` asks whether Redis still answers (a stop
 * during a Redis outage is cut short, see runForever), and how long it waits
 * for the answer.
 */
export const STOP_CHECK_MS = 30_000;
const REDIS_PING_MS = 2_000;

/** `run`: until SIGTERM/SIGINT. Resolves after a clean stop, or one cut short because Redis cannot be reached. */
export async function runForever(app: App, opts: RunnerOptions = {}): Promise<void> {
  let digests: DigestScheduler | undefined;
  // A rotated bot key is announced by a digest made at once, not on the next schedule.
  const announce = (): void => {
    digests?.runNow('rotation').catch((err) => app.logger.error({ err: describeError(err) }, 'could not queue the digest announcing the new bot key'));
  };
  const runner = await startRunner(app, { ...opts, onBotKeyRotated: () => { opts.onBotKeyRotated?.(); announce(); } });
  // A worker restarted while Redis itself restarts (a host reboot, a
  // supervisor restarting both) finds it gone for a moment: the first
  // re-enqueue is tried again for a while, not made fatal. It is idempotent
  // (job ids are the store's), so a retry duplicates nothing.
  try {
    await retryForAWhile(() => runner.reconcile(), STARTUP_RETRY_MS, 5000, (err, delay) => app.logger.warn(
      { err: describeError(err), retryInMs: delay }, 'start: re-enqueueing work from the store failed (Redis restarting?); trying again'));
  } catch (err) {
    await runner.stop().catch(() => undefined);
    throw err;
  }
  runner.intake.start();
  // Ticket expiry is checked hourly (and at every start, by reconcile).
  const sweeper = setInterval(() => {
    runner.sweep().catch((err) => app.logger.error({ err: describeError(err) }, 'ticket expiry sweep failed'));
  }, 3600_000);
  sweeper.unref();
  // Work whose jobs ran out of attempts (a fault that outlasted the backoff)
  // is retried from the store on this schedule; one round at a time.
  let round: Promise<void> | null = null;
  const retrier = setInterval(() => {
    if (round) return;
    round = Promise.all([runner.requeueFromStore(), digests?.ensureSchedule()])
      .then(([r]) => { if (r.revived) app.logger.info(r, 'retried failed work from the store'); })
      .catch((err) => logRateLimited(app.logger, 'retry', err, 'retrying failed work failed'))
      .finally(() => { round = null; });
  }, app.config.queue.retryFailedSeconds * 1000);
  retrier.unref();
  const stopTimers = (): void => {
    clearInterval(sweeper);
    clearInterval(retrier);
  };
  // Digests on their schedule: `run` only (`run --once` drains and exits).
  try {
    digests = await startDigestScheduler(app, bullConnection(runner.redis), runner.outbound);
    // Rotated while the bot was down (or before the digest went out).
    if (await rotationPending(app)) announce();
  } catch (err) {
    stopTimers();
    await runner.stop();
    throw err;
  }
  app.logger.info({ mailbox: runner.intake.where, outbox: runner.transport.where, queue: runner.redis.where }, 'ztrust-bot running');
  await new Promise<void>((resolve) => {
    let stopping = false;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      finished = true;
      clearTimeout(timer);
      resolve();
    };
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      stopTimers();
      app.logger.info({ signal: sig }, 'stopping: intake closed, finishing jobs in flight');
      // A retry round in flight finishes before the queues close under it.
      Promise.resolve(round)
        .then(() => digests.stop())
        .catch((err) => app.logger.warn({ err: describeError(err) }, 'digest scheduler stop failed'))
        .then(() => runner.stop())
        .then(finish, (err) => {
          app.logger.error({ err: describeError(err) }, 'unclean stop');
          finish();
        });
      // BullMQ closes nothing while Redis cannot be reached (measured: a
      // SIGTERM during a Redis outage never ended). So every STOP_CHECK_MS
      // of stopping, Redis is asked: while it answers, the stop goes on
      // (jobs in flight finish, however long); once it does not, the worker
      // waits only for the SMTP deliveries under way (a cut one could send
      // its reply twice) and stops. What was in flight is still pending in
      // the store, and the next start takes it up, as after a crash.
      const since = Date.now();
      const check = (): void => {
        void pingRedis(runner.redis.options, REDIS_PING_MS).then(async (up) => {
          if (finished) return;
          if (up) {
            app.logger.warn({ afterMs: Date.now() - since }, 'still stopping: jobs in flight are finishing');
            timer = setTimeout(check, STOP_CHECK_MS).unref();
            return;
          }
          app.logger.error({ afterMs: Date.now() - since, queue: runner.redis.where },
            'stopping without the queue: Redis cannot be reached, so its jobs cannot be closed; what was in flight is taken up at the next start');
          await runner.cutShort();
          finish();
        });
      };
      timer = setTimeout(check, STOP_CHECK_MS).unref();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
