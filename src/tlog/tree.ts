/**
 * Merkle tree hashes and RFC 9162 proofs computed from tiles, so memory never
 * grows with the log: any hash the algorithms need is either a stored tile
 * hash or at most 7 levels of hashing above one (a tile is a subtree of height
 * 8). Used by the log (tiles on disk) and by the client (tiles over HTTP).
 *
 * RFC 9162 section 2.1 defines the tree over D[0:n]: MTH of one entry is its
 * leaf hash, and MTH(D[0:n]) for n > 1 splits at k, the largest power of two
 * strictly below n. PATH (2.1.3.1) and SUBPROOF (2.1.4.1) below are the RFC's
 * recursions unrolled into loops.
 */
import { EMPTY_ROOT, HASH_SIZE, hashUp, isPowerOfTwo, largestPowerOfTwoBelow, nodeHash } from './hash.js';
import { decodeTile, TILE_HEIGHT, TILE_WIDTH, tileWidth } from './tiles.js';
import { TlogError } from './errors.js';

/**
 * Returns the raw bytes of tile `index` at `level` with `width` hashes
 * (256 = the full tile). Implementations read files or fetch URLs.
 */
export type TileFetcher = (level: number, index: number, width: number) => Promise<Buffer>;

/** A tile expanded into every complete node above its hashes: nodes[j][i] covers 2^j tile hashes. */
interface ExpandedTile {
  nodes: Buffer[][];
}

function expand(hashes: Buffer[]): ExpandedTile {
  const nodes: Buffer[][] = [hashes];
  let level = hashes;
  // Heights 1..7 only: a height-8 node is the tile's root, stored one level up.
  for (let j = 1; j < TILE_HEIGHT && level.length >= 2; j++) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
    nodes.push(next);
    level = next;
  }
  return { nodes };
}

/** One bounded LRU map of expanded tiles. */
class Lru {
  readonly map = new Map<string, Promise<ExpandedTile>>();
  constructor(readonly max: number) {}

  get(key: string, load: () => Promise<ExpandedTile>): Promise<ExpandedTile> {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const p = load();
    this.map.set(key, p);
    // A failed read must not poison the cache: the next caller retries.
    p.catch(() => {
      if (this.map.get(key) === p) this.map.delete(key);
    });
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    return p;
  }
}

/**
 * A small LRU of expanded tiles. Tiles are immutable once written (a partial
 * tile's name carries its width), so entries never go stale; the bound keeps
 * memory flat whatever the log size (a full expanded tile is about 16 KiB).
 *
 * Level-0 tiles and higher tiles have separate bounds (each `maxTiles`):
 * proofs for random entries touch a different level-0 tile nearly every
 * time, and in one shared LRU those would evict the few higher tiles every
 * proof needs (16 level-1 tiles cover a million entries), making each proof
 * re-read and re-hash them.
 */
export class TileCache {
  private readonly leaves: Lru;
  private readonly upper: Lru;
  /**
   * MTH(D[a:b]) of ranges that are not a single stored subtree (the right
   * borders proofs keep asking for). Bounded like the tiles; a range's hash
   * never changes once its entries are committed.
   */
  private readonly ranges = new Map<string, Buffer>();
  constructor(
    readonly maxTiles = 64,
    readonly maxRanges = 4096,
  ) {
    this.leaves = new Lru(maxTiles);
    this.upper = new Lru(maxTiles);
  }

  getRange(key: string): Buffer | undefined {
    return this.ranges.get(key);
  }

  setRange(key: string, hash: Buffer): void {
    this.ranges.set(key, hash);
    if (this.ranges.size > this.maxRanges) this.ranges.delete(this.ranges.keys().next().value as string);
  }

  /** `key` is `<level>/<index>/<width>` (TreeReader's); level 0 goes to its own LRU. */
  get(key: string, load: () => Promise<ExpandedTile>): Promise<ExpandedTile> {
    return (key.startsWith('0/') ? this.leaves : this.upper).get(key, load);
  }

  clear(): void {
    this.leaves.map.clear();
    this.upper.map.clear();
    this.ranges.clear();
  }

  get size(): number {
    return this.leaves.map.size + this.upper.map.size;
  }
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new TlogError('TLOG_RANGE', `${what} ${n} is not a non-negative safe integer`);
}

/** Reads hashes and builds proofs for a tree of `size` leaves whose tiles `fetch` returns. */
export class TreeReader {
  constructor(
    readonly size: number,
    private readonly fetch: TileFetcher,
    private readonly cache: TileCache = new TileCache(),
  ) {
    checkSize(size, 'tree size');
  }

  private tileKey(level: number, index: number): { key: string; width: number } {
    const width = tileWidth(level, index, this.size);
    if (width === 0) throw new TlogError('TLOG_RANGE', `tile ${level}/${index} is beyond tree size ${this.size}`);
    return { key: `${level}/${index}/${width}`, width };
  }

  private tile(level: number, index: number): Promise<ExpandedTile> {
    const { key, width } = this.tileKey(level, index);
    return this.cache.get(key, async () => {
      const bytes = await this.fetch(level, index, width);
      return expand(decodeTile(bytes, width));
    });
  }

  /** Where the complete subtree (height, index) lives: its tile and its node within it. */
  private locate(height: number, index: number): { level: number; tileIndex: number; j: number; offset: number } {
    const span = 2 ** height;
    if (!Number.isSafeInteger(index) || index < 0 || (index + 1) * span > this.size) {
      throw new TlogError('TLOG_RANGE', `subtree ${height}/${index} is not complete in tree size ${this.size}`);
    }
    const level = Math.floor(height / TILE_HEIGHT);
    const j = height % TILE_HEIGHT;
    const first = index * 2 ** j; // index of its first hash at tile level `level`
    const tileIndex = Math.floor(first / TILE_WIDTH);
    return { level, tileIndex, j, offset: (first - tileIndex * TILE_WIDTH) / 2 ** j };
  }

  private pick(t: ExpandedTile, where: { level: number; tileIndex: number; j: number; offset: number }): Buffer {
    const h = t.nodes[where.j]?.[where.offset];
    if (!h || h.length !== HASH_SIZE) throw new TlogError('TLOG_CORRUPT', `tile ${where.level}/${where.tileIndex} lacks a node it must hold`);
    return h;
  }

  /**
   * Hash of the complete subtree of height `height` (2^height leaves) whose
   * leaves are [index * 2^height, (index + 1) * 2^height).
   */
  async subtreeHash(height: number, index: number): Promise<Buffer> {
    const where = this.locate(height, index);
    return this.pick(await this.tile(where.level, where.tileIndex), where);
  }

  /** The leaf hash of entry `index`. */
  leafHash(index: number): Promise<Buffer> {
    return this.subtreeHash(0, index);
  }

  /**
   * Walks MTH(D[start:end]) per RFC 9162 section 2.1.1 down to complete
   * aligned subtrees (which tiles hold), calling `leaf` for each and
   * combining with `node`. Used twice: once to list the tiles a computation
   * needs, once (synchronously, tiles in hand) to hash.
   */
  private walk<T>(start: number, end: number, leaf: (height: number, index: number) => T, node: (l: T, r: T) => T, empty: () => T): T {
    const n = end - start;
    if (n === 0) return empty();
    if (isPowerOfTwo(n) && start % n === 0) return leaf(log2Exact(n), start / n);
    const k = largestPowerOfTwoBelow(n);
    return node(this.walk(start, start + k, leaf, node, empty), this.walk(start + k, end, leaf, node, empty));
  }

  private checkRange(start: number, end: number): void {
    checkSize(start, 'range start');
    checkSize(end, 'range end');
    if (end > this.size || start > end) throw new TlogError('TLOG_RANGE', `range [${start}, ${end}) is outside tree size ${this.size}`);
  }

  /** MTH(D[start:end]) for each range, fetching each needed tile once. */
  async rangeHashes(ranges: ReadonlyArray<readonly [number, number]>): Promise<Buffer[]> {
    const out: Array<Buffer | undefined> = ranges.map(([a, b]) => {
      this.checkRange(a, b);
      return this.cache.getRange(`${a},${b}`);
    });
    const need = new Map<string, { level: number; tileIndex: number }>();
    ranges.forEach(([a, b], i) => {
      if (out[i]) return;
      this.walk(
        a,
        b,
        (h, k) => {
          const w = this.locate(h, k);
          need.set(this.tileKey(w.level, w.tileIndex).key, w);
        },
        () => undefined,
        () => undefined,
      );
    });
    const tiles = new Map<string, ExpandedTile>();
    await Promise.all(
      [...need].map(async ([key, w]) => {
        tiles.set(key, await this.tile(w.level, w.tileIndex));
      }),
    );
    return ranges.map(([a, b], i) => {
      const cached = out[i];
      if (cached) return cached;
      let combined = false;
      const h = this.walk(
        a,
        b,
        (height, k) => {
          const w = this.locate(height, k);
          return this.pick(tiles.get(this.tileKey(w.level, w.tileIndex).key)!, w);
        },
        (l, r) => {
          combined = true;
          return nodeHash(l, r);
        },
        () => EMPTY_ROOT,
      );
      if (combined) this.cache.setRange(`${a},${b}`, h); // single subtrees are cheap already
      return h;
    });
  }

  /** MTH(D[start:end]) per RFC 9162 section 2.1.1, from stored subtree hashes. */
  async rangeHash(start: number, end: number): Promise<Buffer> {
    return (await this.rangeHashes([[start, end]]))[0];
  }

  /** Root hash of the tree of `treeSize` leaves (default: the whole tree). */
  root(treeSize: number = this.size): Promise<Buffer> {
    return this.rangeHash(0, treeSize);
  }

  /** RFC 9162 section 2.1.3.1 PATH(index, D[0:treeSize]), leaf's sibling first. */
  async inclusionProof(index: number, treeSize: number = this.size): Promise<Buffer[]> {
    checkSize(index, 'index');
    checkSize(treeSize, 'tree size');
    if (treeSize > this.size) throw new TlogError('TLOG_RANGE', `tree size ${treeSize} is beyond ${this.size}`);
    if (index >= treeSize) throw new TlogError('TLOG_RANGE', `index ${index} is not below tree size ${treeSize}`);
    const ranges: Array<[number, number]> = [];
    let start = 0;
    let end = treeSize;
    while (end - start > 1) {
      const k = largestPowerOfTwoBelow(end - start);
      if (index < start + k) {
        ranges.push([start + k, end]); // PATH(m, D[0:k]) : MTH(D[k:n])
        end = start + k;
      } else {
        ranges.push([start, start + k]); // PATH(m - k, D[k:n]) : MTH(D[0:k])
        start += k;
      }
    }
    ranges.reverse();
    return this.rangeHashes(ranges);
  }

  /**
   * RFC 9162 section 2.1.4.1 PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true).
   * m == n gives the empty proof. m == 0 also gives the empty proof: the RFC
   * defines proofs only for 0 < m <= n, and the empty tree is a prefix of
   * every tree, so there is nothing to prove (as tlog-witness requires for an
   * old size of zero); verifyConsistency checks the old root is SHA-256("").
   */
  async consistencyProof(oldSize: number, newSize: number = this.size): Promise<Buffer[]> {
    checkSize(oldSize, 'old size');
    checkSize(newSize, 'new size');
    if (newSize > this.size) throw new TlogError('TLOG_RANGE', `tree size ${newSize} is beyond ${this.size}`);
    if (oldSize > newSize) throw new TlogError('TLOG_RANGE', `old size ${oldSize} is beyond new size ${newSize}`);
    if (oldSize === 0 || oldSize === newSize) return [];
    const ranges: Array<[number, number]> = [];
    let start = 0;
    let end = newSize;
    let whole = true; // the RFC's flag b: D[start:end] is still the original prefix
    for (;;) {
      if (oldSize === end) {
        if (!whole) ranges.push([start, end]);
        break;
      }
      const k = largestPowerOfTwoBelow(end - start);
      if (oldSize - start <= k) {
        ranges.push([start + k, end]); // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
        end = start + k;
      } else {
        ranges.push([start, start + k]); // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
        start += k;
        whole = false;
      }
    }
    ranges.reverse();
    return this.rangeHashes(ranges);
  }
}

/**
 * Root of a tree given only its right edge: edge[L] holds the hashes of the
 * rightmost partial tile at level L (empty when that level has no partial
 * tile). Every complete subtree on the tree's right border lies in one of
 * those partial tiles, so the root needs nothing else: this is how an append
 * computes the new root without reading the rest of the tree.
 */
export function rootFromEdge(edge: readonly (readonly Buffer[])[]): Buffer {
  const border: Buffer[] = []; // complete subtrees, largest (leftmost) first
  for (let level = edge.length - 1; level >= 0; level--) {
    let hashes = edge[level] ?? [];
    while (hashes.length > 0) {
      let span = 1;
      while (span * 2 <= hashes.length) span *= 2;
      border.push(hashUp(hashes.slice(0, span)));
      hashes = hashes.slice(span);
    }
  }
  if (border.length === 0) return EMPTY_ROOT;
  let root = border[border.length - 1];
  for (let i = border.length - 2; i >= 0; i--) root = nodeHash(border[i], root);
  return root;
}

function log2Exact(n: number): number {
  let h = 0;
  for (let k = 1; k < n; k *= 2) h++;
  return h;
}
