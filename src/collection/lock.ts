/**
 * The collection lock: the one lock library (src/fsync/lock.ts) on a file
 * inside .git, so that git never sees or cleans it.
 *
 * The apply queue is the only writer by design (concurrency 1); the lock
 * makes that true even when an operator runs `ztrust-bot import` beside a
 * running worker. Its rule for a lock left by someone else is the library's:
 * a dead holder on this host is taken over, a holder on another host never.
 */
import path from 'node:path';
import { FsError } from '../fsync/errors.js';
import { withLock, type LockOptions } from '../fsync/lock.js';
import { CollectionError } from './errors.js';

export type { LockOptions } from '../fsync/lock.js';

export function collectionLockFile(dir: string): string {
  return path.join(dir, '.git', 'ztrust-bot.lock');
}

/**
 * Runs `fn` holding the collection lock (waiting up to 30 s by default).
 * @throws CollectionError COLLECTION_LOCKED (the library's message: who holds it, how to clear it)
 */
export async function withCollectionLock<T>(dir: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T> {
  try {
    return await withLock(collectionLockFile(dir), fn, opts);
  } catch (err) {
    if (err instanceof FsError && err.code !== 'FS_IO') throw new CollectionError('COLLECTION_LOCKED', err.message, { cause: err });
    throw err;
  }
}
