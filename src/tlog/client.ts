/**
 * A read-only client for a log published as static C2SP tlog-tiles files
 * (any web server serving the log directory). It trusts nothing it fetches:
 * the checkpoint must verify with the log's key, and proofs built from
 * fetched tiles are checked against the signed root before being returned.
 */
import { verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { TlogError } from './errors.js';
import { describeError } from '../errors.js';
import { HASH_SIZE, leafHash } from './hash.js';
import { formatConsistencyBlock, formatProofBlock, verifyConsistency, verifyInclusion } from './proof.js';
import { decodeEntryBundle, entriesPath, TILE_WIDTH, tilePath, tileWidth } from './tiles.js';
import { TileCache, TreeReader } from './tree.js';
import { MAX_LOG_ENTRY_BYTES, TLOG_BOUNDS } from '../limits.js';

/**
 * Reads one file of the log, `rel` relative to its root: the bytes, null
 * when there is no such file, or a throw (a file over `maxBytes` is
 * refused). What `fetch` does over HTTP, without a Request and a Response
 * per file.
 */
export type TileReadFn = (rel: string, maxBytes: number) => Buffer | null;

export interface TileClientOptions {
  /** fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Reads the files directly instead of fetching them (a log on the local
   * disk: src/ledger/reader.ts). Read files are checked as fetched ones are.
   */
  read?: TileReadFn;
  cacheTiles?: number;
}

export class TileClient {
  private readonly base: URL;
  private readonly fetchImpl: typeof fetch;
  private readonly readImpl: TileReadFn | undefined;
  private readonly cache: TileCache;
  /** The last checkpoint that verified, with what it verified with. */
  private lastVerified: { note: string; vkey: string; origin: string | undefined; checkpoint: Checkpoint } | null = null;

  constructor(baseUrl: string, opts: TileClientOptions = {}) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    this.fetchImpl = opts.fetch ?? fetch;
    this.readImpl = opts.read;
    this.cache = new TileCache(opts.cacheTiles ?? 64);
  }

  private async get(rel: string, maxBytes: number): Promise<Buffer | null> {
    if (this.readImpl) return this.read(this.readImpl, rel, maxBytes);
    const url = new URL(rel, this.base);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { headers: { 'accept-encoding': 'gzip, identity' } });
    } catch (cause) {
      throw new TlogError('TLOG_FETCH', `GET ${url.href} failed`, { cause });
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new TlogError('TLOG_FETCH', `GET ${url.href}: HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) {
      await res.body?.cancel();
      throw new TlogError('TLOG_FETCH', `GET ${url.href}: ${declared} bytes is more than ${maxBytes}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > maxBytes) throw new TlogError('TLOG_FETCH', `GET ${url.href}: body larger than ${maxBytes} bytes`);
    return body;
  }

  /**
   * A file read directly. A worker answering VERIFY after VERIFY read the
   * checkpoint through a Request and a Response each time (a fetch over
   * the directory): a tenth of a millisecond a reply, for a read of a few
   * hundred bytes.
   */
  private read(readImpl: TileReadFn, rel: string, maxBytes: number): Buffer | null {
    let body: Buffer | null;
    try {
      body = readImpl(rel, maxBytes);
    } catch (cause) {
      if (cause instanceof TlogError) throw cause;
      throw new TlogError('TLOG_FETCH', `reading ${new URL(rel, this.base).href} failed: ${describeError(cause)}`, { cause });
    }
    if (body && body.length > maxBytes) throw new TlogError('TLOG_FETCH', `${new URL(rel, this.base).href}: ${body.length} bytes is more than ${maxBytes}`);
    return body;
  }

  /** The raw checkpoint text (unverified). */
  async fetchCheckpoint(): Promise<string> {
    const body = await this.get('checkpoint', TLOG_BOUNDS.checkpointBytes);
    if (!body) throw new TlogError('TLOG_FETCH', 'the log has no checkpoint');
    return body.toString('utf8');
  }

  /**
   * The checkpoint, verified with the log's key (origin = key name unless
   * given). Fetched every time (it moves with every append); the signature
   * check is skipped only when the very same text was verified with the
   * very same key and origin before, which is the same answer: a worker
   * answering VERIFY after VERIFY checked one unchanged checkpoint each time.
   */
  async verifiedCheckpoint(vkey: string, origin?: string): Promise<{ note: string; checkpoint: Checkpoint }> {
    const note = await this.fetchCheckpoint();
    const last = this.lastVerified;
    if (last && last.note === note && last.vkey === vkey && last.origin === origin) return { note, checkpoint: last.checkpoint };
    const v = verifyCheckpoint(note, vkey, origin);
    if (!v.ok || !v.checkpoint) throw new TlogError(v.code ?? 'TLOG_NOTE_SIGNATURE', `fetched checkpoint: ${v.reason}`);
    this.lastVerified = { note, vkey, origin, checkpoint: v.checkpoint };
    return { note, checkpoint: v.checkpoint };
  }

  /**
   * Fetches a hash tile; a missing partial tile falls back to the full tile's
   * prefix (tlog-tiles lets logs drop partial tiles once the full one exists).
   */
  readonly fetchTile = async (level: number, index: number, width: number): Promise<Buffer> => {
    const tile = await this.get(tilePath(level, index, width), TILE_WIDTH * HASH_SIZE);
    if (tile) return tile;
    if (width < TILE_WIDTH) {
      const full = await this.get(tilePath(level, index), TILE_WIDTH * HASH_SIZE);
      if (full) return full.subarray(0, width * HASH_SIZE);
    }
    throw new TlogError('TLOG_FETCH', `tile ${tilePath(level, index, width)} is not published`);
  };

  /** Fetches and decodes an entry bundle of `width` entries. */
  async fetchEntryBundle(index: number, width: number): Promise<Buffer[]> {
    const max = TILE_WIDTH * (MAX_LOG_ENTRY_BYTES + 2);
    let bundle = await this.get(entriesPath(index, width), max);
    if (bundle) return decodeEntryBundle(bundle, width);
    if (width < TILE_WIDTH) {
      bundle = await this.get(entriesPath(index), max);
      if (bundle) return decodeEntryBundle(bundle, TILE_WIDTH).slice(0, width);
    }
    throw new TlogError('TLOG_FETCH', `entry bundle ${entriesPath(index, width)} is not published`);
  }

  /** A tree reader over the fetched tiles of a tree of `size` entries. */
  reader(size: number): TreeReader {
    return new TreeReader(size, this.fetchTile, this.cache);
  }

  /**
   * Builds a tlog-proof block for entry `index` from fetched files alone and
   * returns it with the entry bytes. Everything is checked before returning:
   * checkpoint signature, the entry against its leaf hash, the proof against
   * the signed root.
   */
  async proveEntry(index: number, vkey: string): Promise<{ block: string; entry: Buffer; checkpoint: Checkpoint }> {
    const { note, checkpoint } = await this.verifiedCheckpoint(vkey);
    if (!Number.isSafeInteger(index) || index < 0 || index >= checkpoint.size) {
      throw new TlogError('TLOG_RANGE', `no entry ${index} in a log of ${checkpoint.size}`);
    }
    const b = Math.floor(index / TILE_WIDTH);
    const bundle = await this.fetchEntryBundle(b, tileWidth(0, b, checkpoint.size));
    const entry = Buffer.from(bundle[index % TILE_WIDTH]);
    const proof = await this.reader(checkpoint.size).inclusionProof(index, checkpoint.size);
    if (!verifyInclusion(leafHash(entry), index, checkpoint.size, proof, checkpoint.root)) {
      throw new TlogError('TLOG_PROOF_INVALID', `published tiles do not prove entry ${index} under the signed root`);
    }
    return { block: formatProofBlock({ index, proof, checkpoint: note }), entry, checkpoint };
  }

  /**
   * Builds a consistency block from `oldCheckpoint` (a signed note the caller
   * kept; null for the empty tree) to the currently published checkpoint.
   */
  async proveConsistency(oldCheckpoint: string | null, vkey: string): Promise<string> {
    const { note, checkpoint } = await this.verifiedCheckpoint(vkey);
    let oldSize = 0;
    let oldRoot: Buffer | null = null;
    if (oldCheckpoint !== null) {
      const v = verifyCheckpoint(oldCheckpoint, vkey);
      if (!v.ok || !v.checkpoint) throw new TlogError(v.code ?? 'TLOG_NOTE_SIGNATURE', `old checkpoint: ${v.reason}`);
      oldSize = v.checkpoint.size;
      oldRoot = v.checkpoint.root;
    }
    if (oldSize > checkpoint.size) throw new TlogError('TLOG_PROOF_INVALID', `the published log (${checkpoint.size}) is smaller than the old checkpoint (${oldSize})`);
    const proof = await this.reader(checkpoint.size).consistencyProof(oldSize, checkpoint.size);
    if (oldRoot && !verifyConsistency(oldSize, checkpoint.size, proof, oldRoot, checkpoint.root)) {
      throw new TlogError('TLOG_PROOF_INVALID', 'the published log is not consistent with the old checkpoint');
    }
    return formatConsistencyBlock(oldSize === 0 ? null : oldCheckpoint, note, proof);
  }
}
