/**
 * Crash-safe file writes: the one implementation for the collection, the
 * transparency log, the digest archive and the .eml outbox.
 *
 * A reader (a web server publishing the collection or the log, git, a mail
 * pickup) sees either the old file or the new one, never a torn one, and after
 * a crash the new content is either fully there or not at all: write a temp
 * file, fsync it, rename it over the target, fsync every directory whose
 * entries changed (a rename or mkdir is only durable once its directory is
 * synced).
 *
 * Temp files are named `.<target name>.tmp-<pid>-<random>`: hidden, never
 * matching what readers look for (`.eml`, `NNNNNN.txt`, tiles), and naming
 * the writer so that `removeStaleTemps` can clean what a crashed writer left
 * without touching a live writer's file.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { FsError } from './errors.js';
import { pidAlive } from './pid.js';

export function isENOENT(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** fsync a directory so renames and creations inside it survive a crash. */
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

/**
 * Writes a new file (O_EXCL: never someone else's) and flushes it. fdatasync
 * is enough: it also flushes the metadata needed to read the data back (the
 * new size); the directory entry is made durable separately by fsyncDir.
 */
export async function writeSynced(file: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const fh = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
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
  const first = await fs.mkdir(dir, { recursive: true });
  if (first === undefined) return [];
  const changed: string[] = [];
  let d = dir;
  while (d.length >= first.length) {
    changed.push(path.dirname(d));
    if (d === first) break;
    d = path.dirname(d);
  }
  return changed;
}

const TEMP_RE = /^\..+\.tmp-(\d+)-[0-9a-f]{12}$/;

/** A fresh temp name for `target`, in `dir` (default: beside the target, so the rename stays on one filesystem). */
export function tempPath(target: string, dir = path.dirname(target)): string {
  return path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Removes the temp files a crashed writer left in `dir` (its pid is gone);
 * a live writer's temp file is left alone. Returns the names removed.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isENOENT(err)) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = TEMP_RE.exec(n);
    if (!m || pidAlive(Number(m[1]))) continue;
    await fs.rm(path.join(dir, n), { force: true });
    removed.push(n);
  }
  return removed;
}

/**
 * A set of files made durable together: each is written to a temp file and
 * fsynced (stage), then all are renamed into place and every touched
 * directory fsynced (commit). Until commit returns, a crash may leave any
 * subset of them in place, which the log's write order makes harmless.
 */
export class AtomicBatch {
  private readonly staged: Array<{ tmp: string; target: string }> = [];
  /** `tmpDir`: where temp files go (default: beside each target). */
  constructor(private readonly tmpDir?: string) {}

  async stage(target: string, data: Uint8Array | string, mode?: number): Promise<void> {
    const tmp = tempPath(target, this.tmpDir);
    this.staged.push({ tmp, target });
    if (!this.tmpDir) await ensureDir(path.dirname(target));
    await writeSynced(tmp, data, mode);
  }

  async commit(): Promise<void> {
    const dirs = new Set<string>();
    for (const { target } of this.staged) dirs.add(path.dirname(target));
    // Directory creation first (sequentially: siblings share parents).
    for (const d of [...dirs]) for (const changed of await ensureDir(d)) dirs.add(changed);
    await Promise.all(this.staged.map(({ tmp, target }) => fs.rename(tmp, target)));
    await Promise.all([...dirs].map(fsyncDir));
    this.staged.length = 0;
  }

  /** Removes staged temp files after a failure (best effort). */
  async abort(): Promise<void> {
    await Promise.all(this.staged.map(({ tmp }) => fs.unlink(tmp).catch(() => undefined)));
    this.staged.length = 0;
  }
}

export interface WriteOptions {
  /** File mode of a new file (default 0644). */
  mode?: number;
  /** Where the temp file goes (default: beside the target). */
  tmpDir?: string;
}

/**
 * Writes one file atomically and durably.
 * @throws FsError FS_IO (no temp file is left behind)
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string, opts: WriteOptions = {}): Promise<void> {
  const batch = new AtomicBatch(opts.tmpDir);
  try {
    await batch.stage(target, data, opts.mode);
    await batch.commit();
  } catch (err) {
    await batch.abort();
    throw new FsError('FS_IO', `could not write ${target}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Remove a file and make the removal durable; a missing file is fine.
 * @throws FsError FS_IO
 */
export async function removeFileDurable(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if (isENOENT(err)) return false;
    throw new FsError('FS_IO', `could not remove ${file}: ${(err as Error).message}`, { cause: err });
  }
  await fsyncDir(path.dirname(file));
  return true;
}
