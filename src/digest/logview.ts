/**
 * A read-only, verified view of the transparency log on local disk, for the
 * digest. The log's writer (the apply step, the log service) holds the log
 * directory's lock; the digest must never become a second writer, so it does
 * not open TransparencyLog. It reads the published files instead, through the
 * same TileClient a remote verifier would use (with a file: "fetch"), which
 * trusts nothing it reads: the checkpoint must verify with the log key, and
 * every entry and proof is checked against the signed root before use.
 *
 * The reading itself is src/ledger/reader.ts (LogReader), shared with the
 * CLI. The view is a snapshot: one checkpoint, read once. Appends made meanwhile
 * are not seen, so the entries listed, the checkpoint and the consistency
 * proof of one digest always agree. Tiles and entry bundles are immutable
 * once a checkpoint commits to them, so reading them without the lock is safe.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LogReader } from '../ledger/reader.js';
import { leafHash, parseCheckpoint, parseNote, TILE_WIDTH, tileWidth, TlogError, verifyInclusion } from '../tlog/index.js';
import { describeError } from '../errors.js';
import { DigestError } from './errors.js';

export interface LogView {
  /** The log's verifier key (C2SP note key). */
  readonly vkey: string;
  readonly origin: string;
  readonly size: number;
  /** The signed checkpoint (C2SP signed note) of this snapshot. */
  readonly checkpoint: string;
  readonly root: Buffer;
  /** Entry bytes, proven included under this snapshot's root. */
  entry(index: number): Promise<Buffer>;
  /** A consistency block from `oldCheckpoint` (null: the empty tree) to this snapshot, verified before it is returned. */
  consistencyBlock(oldCheckpoint: string | null): Promise<string>;
}

/**
 * The view of `<dir>` (the log directory, read with src/ledger/reader.ts), or
 * null when the log has no checkpoint yet (it was never opened).
 */
export async function openLogView(dir: string): Promise<LogView | null> {
  if (!existsSync(path.join(dir, 'checkpoint'))) return null;
  let log: LogReader;
  try {
    log = await LogReader.open(dir);
  } catch (err) {
    throw new DigestError('DIGEST_LOG', `the log in ${dir} cannot be read: ${describeError(err)}`, { cause: err });
  }
  const { size, root, origin } = log.checkpoint;
  const reader = log.client.reader(size);
  const bundles = new Map<number, Promise<Buffer[]>>();

  return {
    vkey: log.vkey, origin, size, checkpoint: log.note, root,
    async entry(index) {
      if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
        throw new DigestError('DIGEST_LOG', `no entry ${index} in a log of ${size}`);
      }
      const b = Math.floor(index / TILE_WIDTH);
      let bundle = bundles.get(b);
      if (!bundle) {
        bundle = log.client.fetchEntryBundle(b, tileWidth(0, b, size));
        bundles.clear(); // entries are read in order: keep one bundle
        bundles.set(b, bundle);
      }
      const e = Buffer.from((await bundle)[index % TILE_WIDTH]);
      const proof = await reader.inclusionProof(index, size);
      if (!verifyInclusion(leafHash(e), index, size, proof, root)) {
        throw new DigestError('DIGEST_LOG', `log entry ${index} is not included under the signed root (damaged log files?)`);
      }
      return e;
    },
    async consistencyBlock(oldCheckpoint) {
      try {
        return await log.consistency(oldCheckpoint, log.note);
      } catch (err) {
        const why = err instanceof TlogError && err.code === 'TLOG_RANGE'
          ? 'the log is smaller than at the previous digest: it was rolled back or replaced'
          : err instanceof TlogError && err.code === 'TLOG_PROOF_INVALID'
            ? 'the log is not an extension of the tree the previous digest published: a fork or a rewrite'
            : 'the previous digest\'s checkpoint does not verify with the log key';
        throw new DigestError('DIGEST_LOG', `${why} (${describeError(err)})`, { cause: err });
      }
    },
  };
}

/** Size and root of a signed checkpoint's body (no signature check). */
export function checkpointFacts(note: string): { origin: string; size: number; root: Buffer } {
  const c = parseCheckpoint(parseNote(note).text);
  return { origin: c.origin, size: c.size, root: c.root };
}
