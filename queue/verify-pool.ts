/**
 * Signature checks on threads of their own (`queue.verifyThreads`): the
 * check of a request's signature (src/mail/verify-mail.ts: the MIME walk,
 * openpgp.js's reading of the signature and of the key, the signature
 * itself, mailparser's reading of the signed text) is about a third of the
 * worker's main thread per request, and the main thread is what the
 * worker's throughput waits for.
 *
 * Every answer equals the worker's own verifyMail, or the worker computes
 * it itself: a request names the commit of the keys the dispatcher holds,
 * and a thread that read another commit (an apply in between) answers with
 * its commit only. A thread that fails, exits or is stopped, and any error
 * on the way, makes the worker verify that message itself: a thread can
 * slow the worker down, never lose or change an answer. One exception: a
 * thread that does not answer in time (VERIFY_THREAD_BOUNDS.answerMs) is
 * replaced and its message fails for now, to be tried again by the inbound
 * queue, rather than checked in the main thread by whatever held it.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describeError, QueueError } from '../src/errors.js';
import { VERIFY_THREAD_BOUNDS, type Limits } from '../src/limits.js';
import type { Logger } from '../src/logger.js';
import type { CryptoPolicy } from '../src/policy/index.js';
import type { MailVerification } from '../src/mail/verify-mail.js';

/** What a thread checks with: the data directory (its collection's keys), and the dispatcher's policy and limits. */
export interface VerifySettings { dataDir: string; policy: CryptoPolicy; limits: Limits }

/** To a thread: the raw message (a copy), the time to judge it at, the commit of the dispatcher's keys. */
export interface VerifyRequest { id: number; raw: Uint8Array; now: number; head: string | null }
/** From a thread: the result, or only the commit its keys came from (not the one asked for), or why it could not check. */
export type VerifyReply =
  | { id: number; head: string | null; result?: MailVerification }
  | { id: number; error: string }
  | { ready: true };

/** Threads when the config does not say: one per core but the main thread's, at most VERIFY_THREAD_BOUNDS.defaultMaxThreads. */
export function defaultVerifyThreads(cores = availableParallelism()): number {
  return Math.max(0, Math.min(VERIFY_THREAD_BOUNDS.defaultMaxThreads, cores - 1));
}

interface Pending {
  /** The commit of the keys asked for: an answer from another is not used. */
  head: string | null;
  local: () => Promise<MailVerification>;
  resolve: (r: MailVerification) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

interface Thread { worker: Worker | null; pending: Map<number, Pending>; alive: boolean; ready: boolean; started: Promise<void> }

export class VerifyPool {
  private readonly threads: Thread[] = [];
  private next = 1;
  private turn = 0;
  private closed = false;
  /** When each replacement thread was started (those within the restart window). */
  private restarts: number[] = [];
  private readonly url: URL;
  private readonly answerMs: number;
  private readonly restartWindowMs: number;

  /**
   * `count` threads, started when the first message comes (list traffic
   * that is never checked starts none, and a start does not share its two
   * cores with loading them); until a thread has loaded, the worker checks
   * messages itself. Tests give another thread module, and a shorter
   * bound on an answer.
   */
  constructor(
    private readonly settings: VerifySettings, readonly count: number, private readonly logger: Logger,
    opts: { threadUrl?: URL; answerMs?: number; restartWindowMs?: number } = {},
  ) {
    this.answerMs = opts.answerMs ?? VERIFY_THREAD_BOUNDS.answerMs;
    this.restartWindowMs = opts.restartWindowMs ?? VERIFY_THREAD_BOUNDS.restartWindowMs;
    // Beside this module in each layout: src/ under tsx (.ts), dist/ (tsc),
    // and the bundle, where scripts/build.js emits verify-thread.js beside the chunks.
    this.url = opts.threadUrl ?? new URL(import.meta.url.endsWith('.ts') ? './verify-thread.ts' : './verify-thread.js', import.meta.url);
  }

  /** Threads started and not stopped (loaded or still loading). */
  get size(): number {
    return this.threads.filter((t) => t.alive).length;
  }

  /** Starts the threads if they are not yet, and resolves when each has loaded or stopped. */
  async ready(): Promise<void> {
    if (!this.closed && this.threads.length === 0) for (let i = 0; i < this.count; i++) this.threads.push(this.start());
    await Promise.all(this.threads.map((t) => t.started));
  }

  private start(): Thread {
    let loaded = (): void => undefined;
    const t: Thread = { worker: null, pending: new Map(), alive: true, ready: false, started: new Promise((r) => { loaded = r; }) };
    const lost = (why: string): void => {
      if (!t.alive) return;
      t.alive = false;
      loaded();
      // Messages it had taken, and was not stopped for: the worker checks them.
      for (const p of t.pending.values()) {
        clearTimeout(p.timer);
        this.settleLocally(p);
      }
      t.pending.clear();
      if (this.closed) return;
      this.logger.error({ why }, 'a verification thread stopped; the worker checks signatures itself until another has started');
      this.replace(t, VERIFY_THREAD_BOUNDS.restartDelayMs);
    };
    const { url, settings } = this;
    const options = { workerData: settings, resourceLimits: { maxYoungGenerationSizeMb: VERIFY_THREAD_BOUNDS.youngGenerationMb } };
    let worker: Worker;
    try {
      // From source (tsx), the thread must load TypeScript too: node does
      // not hand a thread the main thread's module hooks, so it registers tsx's.
      worker = url.pathname.endsWith('.ts')
        ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(url.href)}); });`, { ...options, eval: true })
        : new Worker(url, options);
    } catch (err) {
      // No thread to be had (a process or thread limit, ERR_WORKER_INIT_FAILED): as one that stopped.
      lost(describeError(err));
      return t;
    }
    t.worker = worker;
    // Referenced only while it has messages to answer: a `run --once` ends
    // when its work is done, and a check in flight is waited for.
    worker.unref();
    worker.on('message', (m: VerifyReply) => {
      if ('ready' in m) {
        t.ready = true;
        loaded();
        return;
      }
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      clearTimeout(p.timer);
      if (t.pending.size === 0) worker.unref();
      if ('error' in m) {
        this.logger.warn({ err: m.error }, 'a verification thread could not check a message; the worker checks it itself');
        this.settleLocally(p);
      } else if (m.result && m.head === p.head) {
        p.resolve(revive(m.result));
      } else {
        // The thread's keys are of another commit than the dispatcher's.
        this.settleLocally(p);
      }
    });
    worker.on('error', (err) => lost(describeError(err)));
    worker.on('exit', (code) => lost(`exit ${code}`));
    // An answer that cannot be read would leave its message waiting: the thread is replaced.
    worker.on('messageerror', (err) => {
      lost(`an answer could not be read: ${describeError(err)}`);
      void worker.terminate().catch(() => undefined);
    });
    return t;
  }

  /**
   * Starts another thread in `t`'s place after `delayMs`, or, when
   * VERIFY_THREAD_BOUNDS.maxRestarts were started within the window, once
   * the oldest of them has left it.
   */
  private replace(t: Thread, delayMs: number): void {
    setTimeout(() => {
      if (this.closed) return;
      const now = Date.now();
      this.restarts = this.restarts.filter((at) => now - at < this.restartWindowMs);
      if (this.restarts.length >= VERIFY_THREAD_BOUNDS.maxRestarts) {
        const wait = this.restarts[0] + this.restartWindowMs - now;
        this.logger.error({ retryInMs: wait }, 'verification threads stopped too often; the worker checks signatures itself until it starts another');
        this.replace(t, wait);
        return;
      }
      this.restarts.push(now);
      const i = this.threads.indexOf(t);
      if (i >= 0) this.threads[i] = this.start();
    }, delayMs).unref();
  }

  private settleLocally(p: Pending): void {
    p.local().then(p.resolve, p.reject);
  }

  /**
   * verifyMail for `raw` at `now` with the keys of commit `head`: on a
   * thread when one is running, else (and whenever a thread cannot give
   * exactly that answer) by `local`, the worker's own check. Rejects with
   * QUEUE_VERIFY_TIME when the thread took it and did not answer within
   * VERIFY_THREAD_BOUNDS.answerMs: the thread is replaced, and the message
   * tried again later (not here: what held the thread would hold this one).
   */
  verify(raw: Buffer, now: Date, head: string | null, local: () => Promise<MailVerification>): Promise<MailVerification> {
    if (this.threads.length === 0) void this.ready();
    const live = this.closed ? [] : this.threads.filter((t) => t.alive && t.ready && t.worker);
    if (live.length === 0) return local();
    // The thread with the fewest messages waiting (in turn when even).
    const t = live.reduce((a, b) => (b.pending.size < a.pending.size ? b : a), live[this.turn++ % live.length]);
    const worker = t.worker!;
    const id = this.next++;
    return new Promise<MailVerification>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!t.pending.delete(id)) return;
        this.logger.error({ ms: this.answerMs }, 'a verification thread did not answer in time; it is replaced, and the message tried again later');
        reject(new QueueError('QUEUE_VERIFY_TIME', `the signature-check thread did not answer within ${this.answerMs} ms`));
        void worker.terminate().catch(() => undefined);
      }, this.answerMs);
      timer.unref();
      t.pending.set(id, { head, local, resolve, reject, timer });
      if (t.pending.size === 1) worker.ref();
      try {
        worker.postMessage({ id, raw, now: now.getTime(), head } satisfies VerifyRequest);
      } catch (err) {
        clearTimeout(timer);
        t.pending.delete(id);
        if (t.pending.size === 0) worker.unref();
        this.logger.warn({ err: describeError(err) }, 'a message could not be handed to a verification thread; the worker checks it itself');
        local().then(resolve, reject);
      }
    });
  }

  /** Stops the threads; what they had not answered, and every later request, is checked by the worker itself. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => (t.worker ? t.worker.terminate().catch(() => undefined) : Promise.resolve())));
  }
}

/** A structured clone gives Buffers back as plain Uint8Arrays: the result's bytes are Buffers again, as verifyMail makes them. */
function revive(r: MailVerification): MailVerification {
  const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  const ev = r.signedEvidence;
  if (ev && 'data' in ev) r.signedEvidence = { data: buf(ev.data), signature: buf(ev.signature) };
  r.signedAttachments = r.signedAttachments.map((a) => ({ ...a, content: buf(a.content) }));
  return r;
}
