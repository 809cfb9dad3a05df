/**
 * Crash-safe file writes and the collection lock.
 *
 * writeFileAtomic: a reader (a web server publishing the collection, git)
 * sees either the old file or the new one, never a torn one, and after a
 * crash the new content is either fully there or not at all: write a temp
 * file in the same directory, fsync it, rename it over the target, fsync the
 * directory so the rename itself is durable.
 *
 * The lock: an exclusive lock file created with O_EXCL holding the owner's
 * pid, host and a nonce. The apply queue is the only writer by design
 * (concurrency 1); the lock makes that true even when an operator runs
 * `ztrust-bot import` beside a running worker. A lock whose owner process is
 * gone (same host, pid not alive) is stale and broken; a lock from another
 * host is broken only after `staleMs`.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { CollectionError } from './errors.js';

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory (EINVAL/EISDIR); the
    // rename is still atomic there, only its durability is the OS's.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw err;
  } finally {
    await fh?.close();
  }
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o644);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, file);
    await fsyncDir(dir);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new CollectionError('COLLECTION_IO', `could not write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Remove a file and make the removal durable; a missing file is fine. */
export async function removeFileDurable(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CollectionError('COLLECTION_IO', `could not remove ${file}: ${(err as Error).message}`, { cause: err });
  }
  await fsyncDir(path.dirname(file));
  return true;
}

export interface LockOptions {
  /** Give up waiting after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock from another host older than this is considered stale (default 10 min). */
  staleMs?: number;
  /** Polling interval while waiting (default 25 ms, doubling up to 500 ms). */
  pollMs?: number;
}

interface LockRecord {
  pid: number;
  host: string;
  nonce: string;
  created: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(file: string): Promise<{ rec: LockRecord | null; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    let rec: LockRecord | null = null;
    try {
      rec = JSON.parse(text) as LockRecord;
    } catch {
      rec = null; // half-written by a crashed owner: judged by age
    }
    return { rec, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function isStale(info: { rec: LockRecord | null; mtimeMs: number }, staleMs: number): boolean {
  const age = Date.now() - info.mtimeMs;
  if (info.rec && info.rec.host === hostname()) return !pidAlive(info.rec.pid);
  return age > staleMs;
}

/**
 * True when `lockFile` exists and its owner is gone (same host, pid not
 * alive; another host: older than `staleMs`): what a process killed while
 * holding the lock leaves behind.
 */
export async function lockIsStale(lockFile: string, staleMs = 10 * 60_000): Promise<boolean> {
  const info = await readLock(lockFile);
  return info !== null && isStale(info, staleMs);
}

/**
 * Run `fn` holding an exclusive lock file. Waits (polling) while another
 * holder is alive; breaks a stale lock.
 * @throws CollectionError COLLECTION_LOCKED after timeoutMs
 */
export async function withLock<T>(lockFile: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const staleMs = opts.staleMs ?? 10 * 60_000;
  let poll = opts.pollMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  const rec: LockRecord = { pid: process.pid, host: hostname(), nonce: randomBytes(12).toString('hex'), created: new Date().toISOString() };
  await fs.mkdir(path.dirname(lockFile), { recursive: true });
  for (;;) {
    try {
      const fh = await fs.open(lockFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      try {
        await fh.writeFile(JSON.stringify(rec));
        await fh.sync();
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CollectionError('COLLECTION_IO', `could not create lock ${lockFile}: ${(err as Error).message}`, { cause: err });
      }
    }
    const info = await readLock(lockFile);
    if (info && isStale(info, staleMs)) {
      // Break it by renaming to a unique name, then check that what we moved
      // is the lock we judged stale: if another waiter broke it first and a
      // live owner re-created it in between, put that one back.
      const moved = `${lockFile}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        await fs.rename(lockFile, moved);
        const check = await readLock(moved);
        if (check && info.rec && check.rec && check.rec.nonce !== info.rec.nonce && !isStale(check, staleMs)) {
          await fs.link(moved, lockFile).catch(() => undefined);
        }
        await fs.rm(moved, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      continue;
    }
    if (Date.now() >= deadline) {
      const who = info?.rec ? `pid ${info.rec.pid} on ${info.rec.host} since ${info.rec.created}` : 'an unknown owner';
      throw new CollectionError('COLLECTION_LOCKED', `${lockFile} is held by ${who}`);
    }
    await new Promise((r) => setTimeout(r, poll));
    poll = Math.min(poll * 2, 500);
  }
  try {
    return await fn();
  } finally {
    // Remove only our own lock (a stale-breaker could in theory have replaced it).
    const info = await readLock(lockFile).catch(() => null);
    if (info?.rec?.nonce === rec.nonce) await fs.rm(lockFile, { force: true });
  }
}

/** The lock file of a collection lives inside .git so that git never sees or cleans it. */
export function collectionLockFile(dir: string): string {
  return path.join(dir, '.git', 'ztrust-bot.lock');
}

export async function withCollectionLock<T>(dir: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T> {
  return withLock(collectionLockFile(dir), fn, opts);
}
