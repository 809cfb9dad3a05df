/**
 * WAL checkpoints of the state store on a thread of their own, for the
 * worker. In WAL mode a commit only appends to the log; a checkpoint copies
 * the log's pages into the database file, and with synchronous=NORMAL it
 * fsyncs the log and then the database file. SQLite runs one in the
 * committing connection whenever the log reaches 1,000 pages: in a backlog
 * that is every 25-30 messages (about 36 pages a message), and the worker's
 * one JavaScript thread sat in fsync meanwhile. In the throughput bench
 * (3,000 requests), a store without those fsyncs (synchronous=OFF, not
 * kept: it gives up durability) ran about 6.5% faster; with this thread
 * doing most of the checkpoints the worker gains most of that and keeps the
 * same durability (the same checkpoints, fsyncs included).
 *
 * The thread has its own connection and runs PASSIVE checkpoints, which
 * never block a writer or a reader. Under a steady stream of commits they
 * never quite catch up (a commit lands during each), and only a log copied
 * to its end can start again from the beginning; so in a backlog the
 * worker's connection still checkpoints past STORE_BOUNDS.walBackstopPages,
 * copying the little the thread has not and restarting the log. The log
 * file is cut back to STORE_BOUNDS.walKeepBytes at each restart. If the
 * thread fails, the worker's connection goes back to its own checkpoints
 * as before. A crash in the middle of a checkpoint is safe in SQLite
 * whichever connection ran it.
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
let db = null;
let timer = null;
function stop() {
  clearInterval(timer);
  if (db && db.open) db.close();
  parentPort.close();
}
// Any error stops the thread: the worker's connection then checkpoints by
// itself, as without the thread (a full disk is reported, not retried here).
function fail(err) {
  parentPort.postMessage({ failed: String((err && err.message) || err) });
  stop();
}
parentPort.on('message', (m) => { if (m === 'stop') stop(); });
try {
  db = new Database(workerData.file, { fileMustExist: true });
  // A checkpoint that finds the lock taken (the worker's own, past the
  // backstop) is tried again at the next tick: never wait for it.
  db.pragma('busy_timeout = 0');
  // NORMAL is what makes a checkpoint fsync the log before copying and the
  // database file after: the durability of the worker's own checkpoints.
  db.pragma('synchronous = NORMAL');
  // data_version changes when another connection commits: a store with
  // nothing new costs one read of shared memory per tick, no file I/O.
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
      fail(err);
    }
  }, workerData.everyMs);
} catch (err) {
  fail(err);
}
`;

export class BackgroundCheckpoints {
  private done = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly thread: Worker) {
    this.exited = new Promise((resolve) => thread.once('exit', () => {
      this.done = true;
      resolve();
    }));
  }

  /**
   * Start the thread on the database `file` (in WAL mode). `onFailure` is
   * called once if the thread cannot open the file or a checkpoint throws;
   * the thread has then stopped.
   */
  static start(file: string, onFailure: (reason: string) => void, everyMs: number = STORE_BOUNDS.checkpointEveryMs): BackgroundCheckpoints {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const thread = new Worker(THREAD, { eval: true, workerData: { file, everyMs, sqlite } });
    let failed = false;
    const fail = (reason: string): void => {
      if (failed) return;
      failed = true;
      onFailure(reason);
    };
    thread.on('message', (m: { failed?: string }) => { if (m.failed !== undefined) fail(m.failed); });
    thread.on('error', (err) => fail(err.message));
    // After the listeners: node references a worker again when it gets its
    // first 'message' listener, and a referenced thread would keep a
    // process whose store is never closed (a CLI command, a test that
    // failed) running for ever. Unreferenced, an exit without close()
    // loses nothing: the log is part of the database.
    thread.unref();
    return new BackgroundCheckpoints(thread);
  }

  /** Whether the thread has exited (its connection closed). */
  get exitedAlready(): boolean {
    return this.done;
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
