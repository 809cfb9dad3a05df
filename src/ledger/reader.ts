/**
 * Read-only access to a log directory, without its lock: what the CLI uses
 * while a worker is running (and what a mirror of the published files
 * allows). Nothing read is trusted: the checkpoint must verify with the
 * log's verifier key, and every proof is checked before it is returned.
 *
 * Reading while the worker appends is safe by the log's write order: tiles
 * and bundles are durable before the checkpoint is swapped, so the tiles a
 * checkpoint commits to always exist. The files are read through the same
 * TileClient that reads a log published over HTTP, which reads them from
 * the directory instead of fetching them: one code path for checking local
 * and remote files.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  decodeTile,
  EMPTY_ROOT,
  formatConsistencyBlock,
  HASH_SIZE,
  leafHash,
  rootFromEdge,
  TILE_WIDTH,
  TileClient,
  tileWidth,
  TlogError,
  verifyCheckpoint,
  verifyConsistency,
  type Checkpoint,
  type TileReadFn,
} from '../tlog/index.js';
import { hashUp } from '../tlog/hash.js';
import { REPLY_BOUNDS } from '../limits.js';

/**
 * Reads the files of one directory, never outside it by name (a relative
 * name that climbs out is refused, as a fetch of another host would be),
 * never through a symbolic link in the last component, only regular files,
 * and at most `maxBytes` of them (a larger file is refused before it is
 * read). Read at once, not through the thread pool: a checkpoint, a key or
 * a tile is a few KiB on a local disk, and the four hops of an fs/promises
 * readFile (open, fstat, read, close) cost more than the read itself on a
 * worker answering VERIFY after VERIFY.
 */
export function directoryReader(root: string): TileReadFn {
  const base = path.resolve(root);
  return (rel: string, maxBytes: number): Buffer | null => {
    const file = path.resolve(base, rel);
    if (!file.startsWith(base + path.sep)) throw new TlogError('TLOG_FETCH', `${rel} is outside the log directory`);
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO nobody writes to would otherwise wait for
      // ever, with the worker's one thread; fstat then refuses it.
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      if (code === 'ELOOP') throw new TlogError('TLOG_FETCH', `${rel} is a symbolic link (or its path loops)`);
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new TlogError('TLOG_FETCH', `${rel} is not a regular file`);
      if (st.size > maxBytes) throw new TlogError('TLOG_FETCH', `${rel}: ${st.size} bytes is more than ${maxBytes}`);
      const body = Buffer.allocUnsafe(st.size);
      let got = 0;
      while (got < body.length) {
        const n = readSync(fd, body, got, body.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return body.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  };
}

const clients = new Map<string, TileClient>();

/**
 * A TileClient over a local log directory, one per directory so its tile
 * cache is shared (tiles are immutable once a checkpoint commits to them,
 * and a partial tile's name carries its width, so nothing cached goes stale).
 */
export function localClient(dir: string): TileClient {
  const abs = path.resolve(dir);
  let c = clients.get(abs);
  if (!c) {
    c = new TileClient(`${pathToFileURL(abs).href}/`, { read: directoryReader(abs) });
    clients.set(abs, c);
    if (clients.size > 16) clients.delete(clients.keys().next().value as string);
  }
  return c;
}

/** Reads the verifier key beside the tiles (<dir>/log.vkey). */
export function readVerifierKey(dir: string): string {
  return readFileSync(path.join(dir, 'log.vkey'), 'utf8').trim();
}

export class LogReader {
  private constructor(
    readonly dir: string,
    readonly vkey: string,
    readonly client: TileClient,
    /** The current signed checkpoint, verified. */
    readonly note: string,
    readonly checkpoint: Checkpoint,
  ) {}

  /** Reads and verifies the current checkpoint of the log in `dir`. */
  static async open(dir: string, vkey?: string): Promise<LogReader> {
    const key = vkey ?? readVerifierKey(dir);
    const client = localClient(dir);
    const { note, checkpoint } = await client.verifiedCheckpoint(key);
    return new LogReader(dir, key, client, note, checkpoint);
  }

  get size(): number {
    return this.checkpoint.size;
  }

  /** Verifies a signed checkpoint with this log's key. */
  verify(note: string): Checkpoint {
    const v = verifyCheckpoint(note, this.vkey);
    if (!v.ok || !v.checkpoint) throw new TlogError(v.code ?? 'TLOG_NOTE_SIGNATURE', v.reason);
    return v.checkpoint;
  }

  /**
   * A consistency block between two signed checkpoints of this log (old
   * null: the empty tree), computed from the tiles and checked against both
   * signed roots before it is returned.
   */
  async consistency(oldNote: string | null, newNote: string): Promise<string> {
    const nw = this.verify(newNote);
    const old = oldNote === null ? null : this.verify(oldNote);
    const oldSize = old?.size ?? 0;
    if (oldSize > nw.size) throw new TlogError('TLOG_RANGE', `the old checkpoint (size ${oldSize}) is newer than the new one (size ${nw.size})`);
    if (nw.size > this.size) throw new TlogError('TLOG_RANGE', `checkpoint size ${nw.size} is beyond this log's size ${this.size}`);
    const proof = await this.client.reader(nw.size).consistencyProof(oldSize, nw.size);
    if (!verifyConsistency(oldSize, nw.size, proof, old?.root ?? EMPTY_ROOT, nw.root)) {
      throw new TlogError('TLOG_PROOF_INVALID', `the checkpoints of sizes ${oldSize} and ${nw.size} are not consistent with the tiles`);
    }
    return formatConsistencyBlock(oldSize === 0 ? null : oldNote, newNote, proof);
  }

  /** Integrity check of every file the checkpoint commits to (see fsck below). */
  fsck(onProgress?: (done: number, total: number) => void): Promise<FsckReport> {
    return fsck(this.client, this.checkpoint, onProgress);
  }
}

export interface FsckReport {
  ok: boolean;
  size: number;
  entries: number;
  tiles: number;
  problems: string[];
}

/**
 * Like Tessera's fsck: every entry bundle is decoded and each entry's leaf
 * hash compared with the level-0 tiles; every full tile's hashes are hashed
 * up and compared with the hash one level above; the right edge (the
 * partial tiles) hashes to the checkpoint's root. So every stored byte the
 * checkpoint commits to is checked, not only the ones proofs happen to use.
 * Memory stays flat: one tile per level at a time.
 */
export async function fsck(client: TileClient, cp: Checkpoint, onProgress?: (done: number, total: number) => void): Promise<FsckReport> {
  const problems: string[] = [];
  const report = (p: string): void => {
    if (problems.length < REPLY_BOUNDS.logProblems) problems.push(p);
    else if (problems.length === REPLY_BOUNDS.logProblems) problems.push('(more problems not listed)');
  };
  const size = cp.size;
  let entries = 0;
  let tiles = 0;
  const edge: Buffer[][] = [];
  // Parent-level tile, read once per 256 tiles below it.
  const parents = new Map<number, { index: number; hashes: Buffer[] } | null>();
  const parentHash = async (level: number, n: number): Promise<Buffer | null> => {
    const tileIndex = Math.floor(n / TILE_WIDTH);
    let t = parents.get(level);
    if (!t || t.index !== tileIndex) {
      try {
        const w = tileWidth(level, tileIndex, size);
        t = { index: tileIndex, hashes: decodeTile(await client.fetchTile(level, tileIndex, w), w) };
      } catch (err) {
        report(`tile ${level}/${tileIndex}: ${(err as Error).message}`);
        t = { index: tileIndex, hashes: [] };
      }
      parents.set(level, t);
    }
    return t.hashes[n % TILE_WIDTH] ?? null;
  };

  for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
    const count = Math.floor(size / TILE_WIDTH ** level);
    const nTiles = Math.ceil(count / TILE_WIDTH);
    for (let n = 0; n < nTiles; n++) {
      const w = tileWidth(level, n, size);
      let hashes: Buffer[];
      try {
        hashes = decodeTile(await client.fetchTile(level, n, w), w);
        tiles++;
      } catch (err) {
        report(`tile ${level}/${n} (width ${w}): ${(err as Error).message}`);
        if (w < TILE_WIDTH) edge[level] = [];
        continue;
      }
      if (level === 0) {
        try {
          const bundle = await client.fetchEntryBundle(n, w);
          bundle.forEach((e, i) => {
            entries++;
            if (!leafHash(e).equals(hashes[i])) report(`entry ${n * TILE_WIDTH + i}: its leaf hash is not the one in tile 0/${n}`);
          });
        } catch (err) {
          report(`entry bundle ${n} (width ${w}): ${(err as Error).message}`);
        }
        onProgress?.(Math.min(size, (n + 1) * TILE_WIDTH), size);
      }
      if (w === TILE_WIDTH) {
        const up = await parentHash(level + 1, n);
        if (up && !hashUp(hashes).equals(up)) report(`tile ${level}/${n} does not hash to its parent in tile ${level + 1}/${Math.floor(n / TILE_WIDTH)}`);
      } else {
        edge[level] = hashes;
      }
    }
    if (edge[level] === undefined) edge[level] = [];
  }
  const root = size === 0 ? EMPTY_ROOT : rootFromEdge(edge);
  if (root.length !== HASH_SIZE || !root.equals(cp.root)) report('the tiles do not hash to the checkpoint root');
  return { ok: problems.length === 0, size, entries, tiles, problems };
}
