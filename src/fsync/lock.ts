/**
 * Lock files: the one implementation, with one rule for a lock someone else
 * left behind.
 *
 * A lock is a file holding {pid, host, boot, token, since}. It is created
 * whole: the record is written and fsynced under a unique name, then
 * hard-linked to the lock name, which fails if the lock exists, so a lock is
 * never seen half-written.
 *
 * The rule for a lock that is not ours:
 * - its holder is on this host and alive: it is held; wait (up to
 *   `timeoutMs`), then fail with FS_LOCKED;
 * - its holder is on this host and gone (pid not alive, or the host rebooted
 *   since: another boot id, so a pid reused after a reboot does not wedge
 *   us): it is stale and taken over;
 * - its holder is on another host: it is NEVER broken automatically. This
 *   host cannot see whether that process is alive (a shared filesystem with
 *   workers on several hosts), and breaking a live writer's lock corrupts the
 *   collection or the log. Wait (up to `timeoutMs`), then fail with
 *   FS_LOCKED_ELSEWHERE naming the host, the pid and how to clear it;
 * - it cannot be read as a lock record: also never broken (FS_LOCK_DAMAGED);
 *   locks appear whole, so only damage or an older release makes one.
 * Age plays no part: a slow but live holder is never robbed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { fsyncDir, isENOENT, tempPath, writeSynced } from './atomic.js';
import { FsError } from './errors.js';
import { bootId, pidAlive } from './pid.js';

export interface LockHolder {
  pid: number;
  host: string;
  /** Boot id of the holder's host ('' where unknown). */
  boot: string;
  token: string;
  since: string;
}

export interface LockOptions {
  /** How long to wait for a held lock before failing (default 0: fail at once). */
  timeoutMs?: number;
  /** First polling interval while waiting (default 25 ms, doubling up to 500 ms). */
  pollMs?: number;
}

/** The lock record in `file`: null when there is none, 'damaged' when it is not a lock record. */
async function readHolder(file: string): Promise<{ raw: string; holder: LockHolder | 'damaged' } | null> {
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isENOENT(err)) return null;
    throw err;
  }
  try {
    const r = JSON.parse(raw) as Partial<LockHolder> & { nonce?: string; created?: string };
    if (typeof r.pid !== 'number' || typeof r.host !== 'string') return { raw, holder: 'damaged' };
    // Locks written before this library used nonce/created (collection) and had no boot id.
    return { raw, holder: { pid: r.pid, host: r.host, boot: r.boot ?? '', token: r.token ?? r.nonce ?? '', since: r.since ?? r.created ?? '?' } };
  } catch {
    return { raw, holder: 'damaged' };
  }
}

type Verdict = 'held' | 'stale' | 'elsewhere' | 'damaged';

function judge(holder: LockHolder | 'damaged', me: { host: string; boot: string }): Verdict {
  if (holder === 'damaged') return 'damaged';
  if (holder.host !== me.host) return 'elsewhere';
  const rebooted = holder.boot !== '' && me.boot !== '' && holder.boot !== me.boot;
  return !rebooted && pidAlive(holder.pid) ? 'held' : 'stale';
}

function refusal(file: string, verdict: Exclude<Verdict, 'stale'>, holder: LockHolder | 'damaged'): FsError {
  if (holder === 'damaged' || verdict === 'damaged') {
    return new FsError('FS_LOCK_DAMAGED', `lock ${file} is not a readable lock record; `
      + `make sure no ztrust-bot process uses this data directory, then remove ${file}`);
  }
  if (verdict === 'elsewhere') {
    return new FsError('FS_LOCKED_ELSEWHERE', `lock ${file} is held by pid ${holder.pid} on host ${holder.host} since ${holder.since}; `
      + `a lock from another host is never broken automatically: once pid ${holder.pid} on ${holder.host} is known to be gone, remove ${file}`);
  }
  return new FsError('FS_LOCKED', `lock ${file} is held by pid ${holder.pid} on this host (${holder.host}) since ${holder.since}`);
}

/** True when `file` is a lock whose holder is on this host and gone: what a process killed while holding it leaves. */
export async function lockIsStale(file: string): Promise<boolean> {
  const got = await readHolder(file);
  return got !== null && judge(got.holder, { host: hostname(), boot: await bootId() }) === 'stale';
}

export class LockFile {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /**
   * Takes the lock, waiting up to `timeoutMs` while it is held, taking over
   * a stale one.
   * @throws FsError FS_LOCKED | FS_LOCKED_ELSEWHERE | FS_LOCK_DAMAGED, FS_IO
   */
  static async acquire(file: string, opts: LockOptions = {}): Promise<LockFile> {
    const deadline = Date.now() + (opts.timeoutMs ?? 0);
    let poll = opts.pollMs ?? 25;
    const token = randomBytes(16).toString('hex');
    const me: LockHolder = { pid: process.pid, host: hostname(), boot: await bootId(), token, since: new Date().toISOString() };
    const dir = path.dirname(file);
    const tmp = tempPath(file);
    try {
      await fs.mkdir(dir, { recursive: true });
      await writeSynced(tmp, `${JSON.stringify(me)}\n`);
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw new FsError('FS_IO', `could not create lock ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      for (;;) {
        try {
          await fs.link(tmp, file);
          await fsyncDir(dir);
          return new LockFile(file, token);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new FsError('FS_IO', `could not create lock ${file}: ${(err as Error).message}`, { cause: err });
          }
        }
        const got = await readHolder(file);
        if (got === null) continue; // released meanwhile: try again
        const verdict = judge(got.holder, me);
        if (verdict === 'stale') {
          await takeOver(file, got.raw, token);
          continue;
        }
        if (Date.now() >= deadline) throw refusal(file, verdict, got.holder);
        await new Promise((r) => setTimeout(r, poll));
        poll = Math.min(poll * 2, 500);
      }
    } finally {
      await fs.unlink(tmp).catch(() => undefined);
    }
  }

  /** Releases the lock if it is still ours. */
  async release(): Promise<void> {
    const got = await readHolder(this.path);
    if (got && got.holder !== 'damaged' && got.holder.token === this.token) {
      await fs.unlink(this.path).catch((err: unknown) => {
        if (!isENOENT(err)) throw err;
      });
    }
  }
}

/**
 * Moves a stale lock aside (atomic), then checks that what moved is the lock
 * that was judged and not one a racing process created in between; that one
 * is put back.
 */
async function takeOver(file: string, judged: string, token: string): Promise<void> {
  const aside = `${file}.stale-${token}`;
  try {
    await fs.rename(file, aside);
  } catch (err) {
    if (isENOENT(err)) return;
    throw err;
  }
  const moved = await fs.readFile(aside, 'utf8').catch(() => '');
  if (moved !== judged) await fs.link(aside, file).catch(() => undefined);
  await fs.unlink(aside).catch(() => undefined);
}

/**
 * Runs `fn` holding the lock; always released afterwards.
 * @throws FsError as LockFile.acquire (default timeoutMs here: 30 s)
 */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lock = await LockFile.acquire(file, { ...opts, timeoutMs: opts.timeoutMs ?? 30_000 });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
