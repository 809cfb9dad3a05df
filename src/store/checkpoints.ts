/**
 * WAL checkpoints of the state store on a thread of their own, for the
 * worker. In WAL mode a commit only appends to the log; a checkpoint copies
 * the log's pages into the database file, and with synchronous=NORMAL it
 * fsyncs the log and then the database file. SQLite runs one in the
 * committing connection whenever the log reaches 1,000 pages: in a backlog
 * that is every 25-30 messages, and the worker's one JavaScript thread sat
 * in fsync meanwhile. Measured in the throughput bench (3,000 requests), a
 * store without those fsyncs (synchronous=OFF, not kept: it gives up
 * durability) ran 6.5% faster; with this thread doing the checkpoints the
 * worker gains most of that and keeps the same durability (the same
 * checkpoints, fsyncs included, only on another thread).
 *
 * The thread has its own connection and runs PASSIVE checkpoints, which
 * never block a writer or a reader; the worker's connection keeps a
 * backstop (STORE_BOUNDS.walBackstopPages) and checkpoints itself past it,
 * so the log stays bounded if the thread lags, and it goes back to SQLite's
 * own rule if the thread fails. A crash in the middle of a checkpoint is
 * safe in SQLite whichever connection ran it.
 *
 * The thread's code is a string (eval), not a module file: it is the same
 * under tsx (the tests), in dist/ and in the esbuild bundle, and it needs
 * nothing but better-sqlite3, which it loads from where this module does.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { STORE_BOUNDS } from '../limits.js';

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
let db;
let timer;
const stop = () => { clearInterval(timer); if (db && db.open) db.close(); parentPort.close(); };
try {
  db = new Database(workerData.file, { fileMustExist: true });
  // A checkpoint that finds the lock taken (the worker's own backstop one)
  // is tried again at the next tick: never wait for it.
  db.pragma('busy_timeout = 0');
  // NORMAL here is what makes a checkpoint fsync the log before copying and
  // the database file after: the same durability as the worker's own.
  db.pragma('synchronous = NORMAL');
} catch (err) {
  parentPort.postMessage({ failed: String(err && err.message || err) });
  stop();
}
if (db && db.open) {
  // data_version changes when another connection commits: an idle store
  // costs one read of shared memory per tick, no file I/O.
  let seen = null;
  timer = setInterval(() => {
    try {
      const version = db.pragma('data_version', { simple: true });
      if (version === seen) return;
      const [r] = db.pragma('wal_checkpoint(PASSIVE)');
      // Not all of the log copied (busy, or a reader on an older snapshot):
      // look again at the next tick even if nothing else is committed.
      if (r.busy === 0 && r.checkpointed === r.log) seen = version;
    } catch (err) {
      parentPort.postMessage({ failed: String(err && err.message || err) });
      stop();
    }
  }, workerData.everyMs);
}
parentPort.on('message', (m) => { if (m === 'stop') stop(); });
`;

export class BackgroundCheckpoints {
  private readonly exited: Promise<void>;

  private constructor(private readonly thread: Worker) {
    this.exited = new Promise((resolve) => thread.once('exit', () => resolve()));
  }

  /**
   * Start the thread on the database `file` (in WAL mode). `onFailure` is
   * called once if the thread cannot open the file or a checkpoint throws;
   * the thread has then stopped.
   */
  static start(file: string, onFailure: (reason: string) => void, everyMs: number = STORE_BOUNDS.checkpointEveryMs): BackgroundCheckpoints {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const thread = new Worker(THREAD, { eval: true, workerData: { file, everyMs, sqlite } });
    // It never keeps the process alive: the store's close() stops it, and
    // an exit without a close loses nothing (the log is the database).
    thread.unref();
    let failed = false;
    const fail = (reason: string): void => {
      if (failed) return;
      failed = true;
      onFailure(reason);
    };
    thread.on('message', (m: { failed?: string }) => { if (m.failed !== undefined) fail(m.failed); });
    thread.on('error', (err) => fail(err.message));
    return new BackgroundCheckpoints(thread);
  }

  /** Stop after the checkpoint under way, if any; resolves when the thread has exited (its connection closed). */
  async stop(): Promise<void> {
    // Referenced again while it is waited for: an unreferenced thread would
    // let the event loop end with this promise pending.
    this.thread.ref();
    this.thread.postMessage('stop');
    await this.exited;
  }
}
