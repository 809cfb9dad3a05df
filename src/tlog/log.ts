/**
 * The transparency log: an append-only Merkle tree stored as C2SP tlog-tiles
 * in one directory, with a signed C2SP checkpoint.
 *
 *   <dir>/checkpoint          signed note, the only mutable file that matters
 *   <dir>/tile/<L>/<N>[.p/W]  hash tiles          } immutable once written and
 *   <dir>/tile/entries/<N>..  entry bundles       } committed by a checkpoint
 *   <dir>/log.vkey            the verifier key (publish these three as they are)
 *   <dir>/.lock .pending .tmp/  private: lock, crash-recovery intent, temp files
 *
 * Write order, for crash safety: (1) new tiles and bundles, the new
 * checkpoint, and `.pending` (the sizes the append goes from and to) are
 * written to temp files and fsynced; (2) tiles, bundles and `.pending` are
 * renamed into place and their directories fsynced; (3) only then is the
 * checkpoint renamed into place and its directory fsynced. A crash before
 * (3) leaves the old checkpoint committing only to data that is on disk; the
 * files past it are ignored, deleted on the next open (guided by `.pending`,
 * best effort: it is hygiene, never needed for correctness), or overwritten. No
 * checkpoint can ever commit to missing data, and the log never signs two
 * trees of which one is not a prefix of the other: after any failure
 * mid-append the instance refuses further appends until reopened from disk.
 *
 * Memory does not grow with the log: the instance keeps the right edge of
 * the tree (at most 255 hashes per tile level) and a bounded tile cache;
 * proofs and old roots are computed from tiles on disk (see tree.ts).
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile, rm, unlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_LIMITS, LimitError } from '../limits.js';
import { formatCheckpoint, parseCheckpoint, verifyCheckpoint } from './checkpoint.js';
import { TlogError } from './errors.js';
import { AtomicBatch, isENOENT, writeFileAtomic } from '../fsync/atomic.js';
import { FsError } from '../fsync/errors.js';
import { LockFile } from '../fsync/lock.js';
import { EMPTY_ROOT, hashUp, HASH_SIZE, leafHash } from './hash.js';
import { parseNote, parseSignerKey, signNote, type NoteSigner } from './note.js';
import { formatConsistencyBlock, formatProofBlock, verifyConsistency, verifyInclusion } from './proof.js';
import {
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  encodeTile,
  entriesPath,
  MAX_ENTRY_BYTES,
  TILE_WIDTH,
  tilePath,
  tileWidth,
} from './tiles.js';
import { rootFromEdge, TileCache, TreeReader } from './tree.js';

export interface TransparencyLogOptions {
  /** Checkpoint origin; must equal the signer's key name (tlog-checkpoint recommends it, and verifiers rely on it). */
  origin: string;
  /** The log's note signer, or its `PRIVATE+KEY+...` text. */
  signer: NoteSigner | string;
  /** Largest entry accepted (default: limits.maxLogEntryBytes, at most 65535). */
  maxEntryBytes?: number;
  /** Expanded tiles kept in memory (default 64, about 1 MiB). */
  cacheTiles?: number;
  /** Fault injection for crash tests only: runs after tiles are durable, before the checkpoint. */
  testHooks?: { afterTiles?: (info: { from: number; to: number }) => void | Promise<void> };
}

export interface AppendResult {
  /** Index of the first appended entry; the rest follow in order. */
  firstIndex: number;
  /** The new signed checkpoint. */
  checkpoint: string;
}

/** Largest partial entry bundle kept in memory between appends (typical: 255 entries of ~400 bytes). */
const KEEP_BUNDLE_BYTES = 2 ** 20;

const CHECKPOINT = 'checkpoint';
const VKEY = 'log.vkey';
const PENDING = '.pending';
const TMP = '.tmp';
const LOCK = '.lock';

/**
 * One writer at a time (the lock library's rule: a dead holder on this host is
 * taken over, a holder on another host never); fails at once when held.
 */
async function acquireLock(file: string): Promise<LockFile> {
  try {
    return await LockFile.acquire(file);
  } catch (err) {
    if (err instanceof FsError && err.code !== 'FS_IO') throw new TlogError('TLOG_LOCKED', `log ${err.message}`, { cause: err });
    throw err;
  }
}

export class TransparencyLog {
  #size: number;
  #checkpoint: string;
  #edge: Buffer[][];
  /**
   * The entries of the rightmost partial bundle, when small, so the next
   * append need not read it back before writing (that read sat between the
   * tile writes and the bundle writes, a second round of fsyncs); null when
   * unknown (read it back).
   */
  #partialBundle: Buffer[] | null = null;
  #tail: Promise<unknown> = Promise.resolve();
  #poisoned: Error | null = null;
  #closed = false;
  readonly #cache: TileCache;

  private constructor(
    readonly dir: string,
    readonly origin: string,
    private readonly signer: NoteSigner,
    private readonly lock: LockFile,
    private readonly maxEntryBytes: number,
    private readonly hooks: TransparencyLogOptions['testHooks'],
    state: { size: number; checkpoint: string; edge: Buffer[][] },
    cache: TileCache,
  ) {
    this.#size = state.size;
    this.#checkpoint = state.checkpoint;
    this.#edge = state.edge;
    this.#cache = cache;
    this.#readTile = tileFileReader(dir);
  }

  /**
   * Opens (creating if needed) the log in `dir`, taking its exclusive lock.
   * Recovers from an interrupted append and checks the tree's right edge
   * against the signed checkpoint root.
   */
  static async open(dir: string, opts: TransparencyLogOptions): Promise<TransparencyLog> {
    const signer = typeof opts.signer === 'string' ? parseSignerKey(opts.signer) : opts.signer;
    if (signer.name !== opts.origin) {
      throw new TlogError('TLOG_ORIGIN', `log origin ${JSON.stringify(opts.origin)} must equal the log key name ${JSON.stringify(signer.name)}`);
    }
    formatCheckpoint({ origin: opts.origin, size: 0, root: Buffer.alloc(HASH_SIZE) }); // validates the origin line
    const maxEntryBytes = Math.min(opts.maxEntryBytes ?? DEFAULT_LIMITS.maxLogEntryBytes, MAX_ENTRY_BYTES);
    await mkdir(dir, { recursive: true });
    const lock = await acquireLock(join(dir, LOCK));
    try {
      const tmp = join(dir, TMP);
      await rm(tmp, { recursive: true, force: true }); // temp files of a crashed writer; we hold the lock
      await mkdir(tmp);
      const cache = new TileCache(opts.cacheTiles ?? 64);

      const vkeyPath = join(dir, VKEY);
      const existingVkey = await readFile(vkeyPath, 'utf8').catch((err: unknown) => {
        if (isENOENT(err)) return null;
        throw err;
      });
      if (existingVkey === null) await writeFileAtomic(vkeyPath, `${signer.vkey}\n`, { tmpDir: tmp });
      else if (existingVkey.trim() !== signer.vkey) {
        throw new TlogError('TLOG_KEY_INVALID', `${vkeyPath} holds a different key than the configured log signer`);
      }

      let note = await readFile(join(dir, CHECKPOINT), 'utf8').catch((err: unknown) => {
        if (isENOENT(err)) return null;
        throw err;
      });
      if (note === null) {
        const hasTiles = await readdir(join(dir, 'tile')).then((l) => l.length > 0, () => false);
        if (hasTiles) throw new TlogError('TLOG_CORRUPT', `${dir} has tiles but no checkpoint`);
        note = signNote(formatCheckpoint({ origin: opts.origin, size: 0, root: rootFromEdge([]) }), signer);
        await writeFileAtomic(join(dir, CHECKPOINT), note, { tmpDir: tmp });
      }
      const v = verifyCheckpoint(note, signer.vkey, opts.origin);
      if (!v.ok || !v.checkpoint) throw new TlogError(v.code === 'TLOG_ORIGIN' ? 'TLOG_ORIGIN' : 'TLOG_CORRUPT', `checkpoint in ${dir}: ${v.reason}`);
      const size = v.checkpoint.size;

      await recoverPending(dir, size);

      const read = tileFileReader(dir);
      const edge: Buffer[][] = [];
      for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
        const count = Math.floor(size / TILE_WIDTH ** level);
        const w = count % TILE_WIDTH;
        edge.push(w === 0 ? [] : decodeTile(await read(level, Math.floor(count / TILE_WIDTH), w), w).map((h) => Buffer.from(h)));
      }
      if (!rootFromEdge(edge).equals(v.checkpoint.root)) {
        throw new TlogError('TLOG_CORRUPT', `tiles in ${dir} do not hash to the checkpoint root`);
      }
      const log = new TransparencyLog(dir, opts.origin, signer, lock, maxEntryBytes, opts.testHooks, { size, checkpoint: note, edge }, cache);
      await log.#checkLastBundle();
      // Expand the right edge into the tile cache now (a few hundred hashes):
      // every proof against the current size needs it, the first one included.
      await log.#reader().root();
      return log;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** Number of entries committed by the current checkpoint. */
  size(): number {
    return this.#size;
  }

  /** The current signed checkpoint (C2SP signed note). */
  checkpoint(): string {
    return this.#checkpoint;
  }

  /** The log's verifier key text (also in <dir>/log.vkey). */
  verifierKey(): string {
    return this.signer.vkey;
  }

  /**
   * Appends entries and commits them with a new signed checkpoint. Appends
   * are serialised; one process at a time holds the directory lock.
   * Oversized entries are LimitError LIMIT_LOG_ENTRY, before anything is written.
   */
  append(entries: readonly Uint8Array[]): Promise<AppendResult> {
    if (!Array.isArray(entries) || entries.length === 0) {
      return Promise.reject(new TlogError('TLOG_ENTRY_INVALID', 'append needs at least one entry'));
    }
    for (const e of entries) {
      if (!(e instanceof Uint8Array)) return Promise.reject(new TlogError('TLOG_ENTRY_INVALID', 'log entries are byte buffers'));
      if (e.length > this.maxEntryBytes) return Promise.reject(new LimitError('LIMIT_LOG_ENTRY', this.maxEntryBytes, e.length));
    }
    // Array.isArray above widened `entries` to any[]; the loop checked every element.
    const copy = (entries as readonly Uint8Array[]).map((e) => Buffer.from(e)); // the caller may reuse its buffers
    return this.#serial(() => this.#append(copy));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #usable(): void {
    if (this.#closed) throw new TlogError('TLOG_CLOSED', 'the log has been closed');
    if (this.#poisoned) throw new TlogError('TLOG_POISONED', `an earlier append failed: ${this.#poisoned.message}`, { cause: this.#poisoned });
  }

  async #append(entries: Buffer[]): Promise<AppendResult> {
    this.#usable();
    const from = this.#size;
    const to = from + entries.length;
    if (!Number.isSafeInteger(to)) throw new TlogError('TLOG_RANGE', 'the log is full');
    const tmp = join(this.dir, TMP);
    const batch = new AtomicBatch(tmp);
    const cpBatch = new AtomicBatch(tmp);
    const staged: Array<Promise<void>> = [];
    const track = (p: Promise<void>): void => {
      p.catch(() => undefined); // observed by Promise.all below; never an unhandled rejection meanwhile
      staged.push(p);
    };
    const stage = (rel: string, data: Buffer): void => track(batch.stage(join(this.dir, rel), data));
    const obsolete: string[] = []; // partial-tile directories superseded by full tiles

    try {
      // Hash tiles, level by level: each completed tile's root is a new hash one level up.
      const edge = this.#edge.map((hs) => hs.slice());
      let carry = entries.map((e) => leafHash(e));
      for (let level = 0; carry.length > 0; level++) {
        const before = Math.floor(from / TILE_WIDTH ** level);
        const firstTile = Math.floor(before / TILE_WIDTH);
        let index = firstTile;
        let cur = edge[level] ?? [];
        const next: Buffer[] = [];
        for (const h of carry) {
          cur.push(h);
          if (cur.length === TILE_WIDTH) {
            stage(tilePath(level, index), encodeTile(cur));
            next.push(hashUp(cur));
            if (index === firstTile && before % TILE_WIDTH > 0) obsolete.push(`${tilePath(level, index)}.p`);
            index++;
            cur = [];
          }
        }
        if (cur.length > 0) stage(tilePath(level, index, cur.length), encodeTile(cur));
        edge[level] = cur;
        carry = next;
      }

      // Entry bundles: the current partial bundle (kept from the last append,
      // or read back) is extended.
      const firstBundle = Math.floor(from / TILE_WIDTH);
      const have = from % TILE_WIDTH;
      const kept = this.#partialBundle;
      let bundle = have === 0 ? [] : kept?.length === have ? kept.slice() : decodeEntryBundle(await this.#readTile('entries', firstBundle, have), have);
      let bIndex = firstBundle;
      for (const e of entries) {
        bundle.push(e);
        if (bundle.length === TILE_WIDTH) {
          stage(entriesPath(bIndex), encodeEntryBundle(bundle));
          if (bIndex === firstBundle && have > 0) obsolete.push(`${entriesPath(bIndex)}.p`);
          bIndex++;
          bundle = [];
        }
      }
      if (bundle.length > 0) stage(entriesPath(bIndex, bundle.length), encodeEntryBundle(bundle));

      const checkpoint = signNote(formatCheckpoint({ origin: this.origin, size: to, root: rootFromEdge(edge) }), this.signer);

      // Phase 1: every temp file (tiles, bundles, the intent, the checkpoint)
      // written and fsynced in parallel; none is visible yet.
      // Phase 2: tiles, bundles and the intent renamed into place, their
      // directories fsynced. Phase 3, only then: the checkpoint renamed in and
      // the directory fsynced: the commit point.
      stage(PENDING, Buffer.from(`${JSON.stringify({ from, to })}\n`));
      track(cpBatch.stage(join(this.dir, CHECKPOINT), checkpoint));
      await Promise.all(staged);
      await batch.commit();
      await this.hooks?.afterTiles?.({ from, to });
      await cpBatch.commit();

      this.#size = to;
      this.#checkpoint = checkpoint;
      this.#edge = edge;
      this.#partialBundle = bundle.reduce((n, e) => n + e.length, 0) <= KEEP_BUNDLE_BYTES ? bundle : null;
      // Hygiene only: the intent is moot now, and the spec lets a log drop a
      // partial tile once the full one exists. Failures here are harmless.
      await unlink(join(this.dir, PENDING)).catch(() => undefined);
      await Promise.all(obsolete.map((p) => rm(join(this.dir, p), { recursive: true, force: true }).catch(() => undefined)));
      return { firstIndex: from, checkpoint };
    } catch (err) {
      await Promise.allSettled(staged);
      await Promise.all([batch.abort(), cpBatch.abort()]);
      // Disk may now be ahead of memory (or hold a checkpoint memory does not
      // know): appending from the old state could sign a fork. Refuse until reopened.
      this.#poisoned = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  #reader(size: number = this.#size): TreeReader {
    if (this.#closed) throw new TlogError('TLOG_CLOSED', 'the log has been closed');
    return new TreeReader(size, this.#fetchTile, this.#cache);
  }

  /**
   * Tiles for proofs. The rightmost (partial) tile of each level is the
   * right edge this instance keeps in memory, and every proof against the
   * current size needs those: they are served without a disk read. A tile's
   * name carries its width and committed tiles never change, so an edge tile
   * of the same level, index and width is the same bytes as the file.
   */
  readonly #fetchTile = (level: number, index: number, width: number): Promise<Buffer> => {
    const edge = this.#edge[level];
    if (edge && width < TILE_WIDTH && edge.length === width && index === Math.floor(this.#size / TILE_WIDTH ** (level + 1))) {
      return Promise.resolve(encodeTile(edge));
    }
    return this.#readTile(level, index, width);
  };

  readonly #readTile: ReturnType<typeof tileFileReader>;

  #checkSize(treeSize: number): void {
    if (!Number.isSafeInteger(treeSize) || treeSize < 0 || treeSize > this.#size) {
      throw new TlogError('TLOG_RANGE', `tree size ${treeSize} is not in 0..${this.#size}`);
    }
  }

  /** The bytes of entry `index`, checked against its leaf hash in the tiles. */
  async entry(index: number): Promise<Buffer> {
    if (this.#closed) throw new TlogError('TLOG_CLOSED', 'the log has been closed');
    const size = this.#size;
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new TlogError('TLOG_RANGE', `no entry ${index} in a log of ${size}`);
    const b = Math.floor(index / TILE_WIDTH);
    const width = tileWidth(0, b, size);
    const bundle = decodeEntryBundle(await this.#readTile('entries', b, width), width);
    const e = Buffer.from(bundle[index % TILE_WIDTH]);
    if (!leafHash(e).equals(await this.#reader(size).leafHash(index))) {
      throw new TlogError('TLOG_CORRUPT', `entry ${index} does not match its leaf hash`);
    }
    return e;
  }

  /** Leaf hash of entry `index`. */
  leafHash(index: number): Promise<Buffer> {
    return this.#reader().leafHash(index);
  }

  /** RFC 9162 inclusion proof for entry `index` in the tree of `treeSize` (default: current). */
  async inclusionProof(index: number, treeSize: number = this.#size): Promise<Buffer[]> {
    this.#checkSize(treeSize);
    return this.#reader().inclusionProof(index, treeSize);
  }

  /** RFC 9162 consistency proof from `oldSize` to `newSize` (default: current); empty for oldSize 0. */
  async consistencyProof(oldSize: number, newSize: number = this.#size): Promise<Buffer[]> {
    this.#checkSize(newSize);
    return this.#reader().consistencyProof(oldSize, newSize);
  }

  /** Root hash of the tree of `treeSize` entries (any size up to the current one). */
  async rootAt(treeSize: number): Promise<Buffer> {
    this.#checkSize(treeSize);
    return this.#reader().root(treeSize);
  }

  /** A c2sp.org/tlog-proof@v1 block for entry `index` against the current checkpoint. */
  async proofBlock(index: number, extra?: Uint8Array): Promise<string> {
    const size = this.#size;
    const checkpoint = this.#checkpoint; // snapshot both together: appends may run meanwhile
    const reader = this.#reader(size);
    const [proof, leaf] = await Promise.all([reader.inclusionProof(index, size), reader.leafHash(index)]);
    // Never hand out a proof that does not verify (damaged tiles on disk).
    if (!verifyInclusion(leaf, index, size, proof, parseCheckpoint(parseNote(checkpoint).text).root)) {
      throw new TlogError('TLOG_CORRUPT', `tiles in ${this.dir} do not prove entry ${index} under the checkpoint`);
    }
    return formatProofBlock({ index, proof, checkpoint, ...(extra ? { extra } : {}) });
  }

  /** A consistency block from `oldCheckpoint` (null: the empty tree) to the current checkpoint. */
  async consistencyBlock(oldCheckpoint: string | null): Promise<string> {
    const size = this.#size;
    const checkpoint = this.#checkpoint;
    let oldSize = 0;
    if (oldCheckpoint !== null) {
      const v = verifyCheckpoint(oldCheckpoint, this.signer.vkey, this.origin);
      if (!v.ok || !v.checkpoint) throw new TlogError('TLOG_PROOF_MALFORMED', `old checkpoint: ${v.reason}`);
      oldSize = v.checkpoint.size;
      if (oldSize > size) throw new TlogError('TLOG_RANGE', `old checkpoint size ${oldSize} is beyond the log size ${size}`);
      // Refuse to present a proof for a checkpoint this log never signed.
      if (!(await this.#reader(size).root(oldSize)).equals(v.checkpoint.root)) {
        throw new TlogError('TLOG_PROOF_INVALID', `old checkpoint root is not this log's root at size ${oldSize}`);
      }
    }
    const proof = await this.#reader(size).consistencyProof(oldSize, size);
    const root = parseCheckpoint(parseNote(checkpoint).text).root;
    const oldRoot = oldSize === 0 ? EMPTY_ROOT : await this.#reader(size).root(oldSize);
    if (!verifyConsistency(oldSize, size, proof, oldRoot, root)) {
      throw new TlogError('TLOG_CORRUPT', `tiles in ${this.dir} do not prove consistency from ${oldSize} to ${size}`);
    }
    return formatConsistencyBlock(oldSize === 0 ? null : oldCheckpoint, checkpoint, proof);
  }

  /** Waits for pending appends and releases the lock. The instance is unusable afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#tail;
    this.#closed = true;
    this.#cache.clear();
    await this.lock.release();
  }

  /** Integrity check at open: the last entry bundle decodes and matches its leaf hashes. */
  async #checkLastBundle(): Promise<void> {
    if (this.#size === 0) return;
    const b = Math.floor((this.#size - 1) / TILE_WIDTH);
    const width = tileWidth(0, b, this.#size);
    const bundle = decodeEntryBundle(await this.#readTile('entries', b, width), width);
    const reader = this.#reader();
    for (let i = 0; i < width; i++) {
      if (!leafHash(bundle[i]).equals(await reader.leafHash(b * TILE_WIDTH + i))) {
        throw new TlogError('TLOG_CORRUPT', `entry ${b * TILE_WIDTH + i} does not match its leaf hash`);
      }
    }
  }
}

/**
 * Reads tiles and bundles from the log directory. A partial tile that is
 * gone (dropped because its full tile now exists) is served from the full
 * tile's prefix, as tlog-tiles suggests clients do.
 */
function tileFileReader(dir: string): (level: number | 'entries', index: number, width: number) => Promise<Buffer> {
  const read = async (level: number | 'entries', index: number, width: number): Promise<Buffer> => {
    const rel = (w: number): string => (level === 'entries' ? entriesPath(index, w) : tilePath(level, index, w));
    // Hash tiles (at most 8 KiB) are read synchronously: from the page cache
    // that takes microseconds, while the four thread-pool round trips of an
    // async readFile took 0.3-0.5 ms on a busy 2-core machine, most of a
    // proof's 1 ms budget (bench/tlog-scale.ts). Entry bundles (up to 16 MiB)
    // stay asynchronous.
    const readBytes = level === 'entries' ? readFile : (p: string): Promise<Buffer> => Promise.resolve(readFileSync(p));
    try {
      return await readBytes(join(dir, rel(width)));
    } catch (err) {
      if (!isENOENT(err)) throw err;
    }
    if (width < TILE_WIDTH) {
      try {
        const full = await readBytes(join(dir, rel(TILE_WIDTH)));
        if (level !== 'entries') return full.subarray(0, width * HASH_SIZE);
        return encodeEntryBundle(decodeEntryBundle(full, TILE_WIDTH).slice(0, width));
      } catch (err) {
        if (!isENOENT(err)) throw err;
      }
    }
    throw new TlogError('TLOG_CORRUPT', `missing ${rel(width)} in ${dir}`);
  };
  // Our own files must decode; if one does not, the directory is damaged.
  return async (level, index, width) => {
    try {
      const data = await read(level, index, width);
      if (level === 'entries') decodeEntryBundle(data, width);
      else decodeTile(data, width);
      return data;
    } catch (err) {
      if (err instanceof TlogError && err.code === 'TLOG_TILE_MALFORMED') {
        throw new TlogError('TLOG_CORRUPT', `${level === 'entries' ? 'entry bundle' : `tile level ${level}`} ${index} in ${dir}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  };
}

/**
 * After a crash mid-append, deletes the tiles and bundles that append wrote
 * past the committed size (if the checkpoint was not swapped), or the partial
 * tiles it made obsolete (if it was). Bounded by the size of that one append.
 */
async function recoverPending(dir: string, size: number): Promise<void> {
  const path = join(dir, PENDING);
  let intent: { from: number; to: number };
  try {
    intent = JSON.parse(await readFile(path, 'utf8')) as { from: number; to: number };
  } catch (err) {
    if (isENOENT(err)) return;
    await unlink(path).catch(() => undefined);
    return; // unreadable intent: nothing to clean up precisely; stray files are ignored and later overwritten
  }
  const { from, to } = intent;
  if (Number.isSafeInteger(from) && Number.isSafeInteger(to) && from < to) {
    if (size === from) await removeBeyond(dir, from, to);
    else if (size === to) await removeObsoletePartials(dir, from, to);
  }
  await unlink(path);
}

type Kind = number | 'entries';

function relPath(kind: Kind, index: number, width: number): string {
  return kind === 'entries' ? entriesPath(index, width) : tilePath(kind, index, width);
}

function* levels(to: number): Generator<{ kind: Kind; scale: number }> {
  yield { kind: 'entries', scale: 1 };
  for (let level = 0; Math.floor(to / TILE_WIDTH ** level) > 0; level++) yield { kind: level, scale: TILE_WIDTH ** level };
}

async function removeBeyond(dir: string, from: number, to: number): Promise<void> {
  for (const { kind, scale } of levels(to)) {
    const countFrom = Math.floor(from / scale);
    const countTo = Math.floor(to / scale);
    if (countTo === countFrom) continue;
    const first = Math.floor(countFrom / TILE_WIDTH);
    const last = Math.floor((countTo - 1) / TILE_WIDTH);
    const keepWidth = countFrom % TILE_WIDTH;
    for (let n = first; n <= last; n++) {
      await rm(join(dir, relPath(kind, n, TILE_WIDTH)), { force: true });
      const pdir = join(dir, `${relPath(kind, n, TILE_WIDTH)}.p`);
      if (n === first && keepWidth > 0) {
        const widths = await readdir(pdir).catch(() => [] as string[]);
        for (const w of widths) if (Number(w) > keepWidth) await rm(join(pdir, w), { force: true });
      } else {
        await rm(pdir, { recursive: true, force: true });
      }
    }
  }
}

async function removeObsoletePartials(dir: string, from: number, to: number): Promise<void> {
  for (const { kind, scale } of levels(to)) {
    const countFrom = Math.floor(from / scale);
    const countTo = Math.floor(to / scale);
    const first = Math.floor(countFrom / TILE_WIDTH);
    if (countFrom % TILE_WIDTH > 0 && countTo >= (first + 1) * TILE_WIDTH) {
      await rm(join(dir, `${relPath(kind, first, TILE_WIDTH)}.p`), { recursive: true, force: true });
    }
  }
}
