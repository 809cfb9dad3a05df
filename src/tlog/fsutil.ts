/**
 * Durable file operations for the log directory: temp file + fsync + rename,
 * then fsync of every directory whose entries changed (a rename or mkdir is
 * only durable once its directory is synced), and the exclusive lock file.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { TlogError } from './errors.js';

/** fsync a directory so renames and creations inside it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a file (created or truncated) and flushes it to disk. fdatasync is
 * enough: it also flushes the metadata needed to read the data back (the new
 * size), and the directory entry is made durable separately by fsyncDir.
 */
export async function writeSynced(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const fh = await open(path, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * mkdir -p that reports the directories whose listings changed (the parent
 * of each directory it created), so the caller can fsync them.
 */
export async function ensureDir(dir: string): Promise<string[]> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return [];
  const changed: string[] = [];
  let d = dir;
  while (d.length >= first.length) {
    changed.push(dirname(d));
    if (d === first) break;
    d = dirname(d);
  }
  return changed;
}

export function isENOENT(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * A set of files made durable together: each is written to a temp file in
 * `tmpDir` and fsynced (stage), then all are renamed into place and every
 * touched directory fsynced (commit). Until commit returns, a crash may leave
 * any subset of them in place, which the log's write order makes harmless.
 */
export class AtomicBatch {
  private readonly staged: Array<{ tmp: string; target: string }> = [];
  constructor(private readonly tmpDir: string) {}

  async stage(target: string, data: Uint8Array | string): Promise<void> {
    const tmp = join(this.tmpDir, `${randomBytes(8).toString('hex')}.tmp`);
    this.staged.push({ tmp, target });
    await writeSynced(tmp, data);
  }

  async commit(): Promise<void> {
    const dirs = new Set<string>();
    for (const { target } of this.staged) dirs.add(dirname(target));
    // Directory creation first (sequentially: siblings share parents).
    for (const d of [...dirs]) for (const changed of await ensureDir(d)) dirs.add(changed);
    await Promise.all(this.staged.map(({ tmp, target }) => rename(tmp, target)));
    await Promise.all([...dirs].map(fsyncDir));
    this.staged.length = 0;
  }

  /** Removes staged temp files after a failure (best effort). */
  async abort(): Promise<void> {
    await Promise.all(this.staged.map(({ tmp }) => unlink(tmp).catch(() => undefined)));
    this.staged.length = 0;
  }
}

/** Writes one file atomically and durably. */
export async function writeFileAtomic(target: string, data: Uint8Array | string, tmpDir: string): Promise<void> {
  const batch = new AtomicBatch(tmpDir);
  try {
    await batch.stage(target, data);
    await batch.commit();
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

interface LockHolder {
  pid: number;
  host: string;
  boot: string;
  token: string;
  since: string;
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return ''; // not Linux: staleness falls back to the pid check alone
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * An exclusive lock file holding {pid, host, boot id, token}. Creation is
 * atomic: the content is written and fsynced under a unique name and then
 * hard-linked to the lock name, which fails if the lock exists, so a lock is
 * never seen half-written. A lock is stale when its process is gone on this
 * host or the host rebooted since (boot id changed, so a reused pid after a
 * reboot does not wedge the log). A lock from another host is never taken
 * over: remove it by hand once that host is known to be down.
 */
export class LockFile {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  static async acquire(path: string): Promise<LockFile> {
    const token = randomBytes(16).toString('hex');
    const me: LockHolder = { pid: process.pid, host: hostname(), boot: await bootId(), token, since: new Date().toISOString() };
    const tmp = `${path}.${token}`;
    await writeSynced(tmp, `${JSON.stringify(me)}\n`);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(tmp, path);
          await fsyncDir(dirname(path));
          return new LockFile(path, token);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        let raw: string;
        try {
          raw = await readFile(path, 'utf8');
        } catch (err) {
          if (isENOENT(err)) continue; // released meanwhile: try again
          throw err;
        }
        let holder: LockHolder | null = null;
        try {
          holder = JSON.parse(raw) as LockHolder;
        } catch {
          holder = null; // unreadable: only a damaged file looks like this, since locks appear whole
        }
        if (holder && typeof holder.pid === 'number') {
          if (holder.host !== me.host) {
            throw new TlogError('TLOG_LOCKED', `log lock ${path} is held by pid ${holder.pid} on host ${holder.host}; remove it only if that process is gone`);
          }
          const rebooted = holder.boot !== '' && me.boot !== '' && holder.boot !== me.boot;
          if (!rebooted && pidAlive(holder.pid)) {
            throw new TlogError('TLOG_LOCKED', `log lock ${path} is held by pid ${holder.pid} since ${holder.since}`);
          }
        }
        // Stale. Move it aside (atomic), then check we moved the lock we judged
        // and not one a racing process created in between.
        const aside = `${path}.stale.${token}`;
        try {
          await rename(path, aside);
        } catch (err) {
          if (isENOENT(err)) continue;
          throw err;
        }
        const moved = await readFile(aside, 'utf8').catch(() => '');
        if (moved !== raw) {
          await link(aside, path).catch(() => undefined);
          await unlink(aside).catch(() => undefined);
          throw new TlogError('TLOG_LOCKED', `log lock ${path} changed hands while it was being checked`);
        }
        await unlink(aside);
      }
      throw new TlogError('TLOG_LOCKED', `could not take the log lock ${path}`);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Releases the lock if it is still ours. */
  async release(): Promise<void> {
    try {
      const holder = JSON.parse(await readFile(this.path, 'utf8')) as LockHolder;
      if (holder.token === this.token) await unlink(this.path);
    } catch (err) {
      if (!isENOENT(err) && !(err instanceof SyntaxError)) throw err;
    }
  }
}
