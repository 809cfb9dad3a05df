/**
 * C2SP tlog-tiles (c2sp.org/tlog-tiles) resource names and encodings.
 *
 *   tile/<L>/<N>[.p/<W>]        Merkle tree hashes, 256 per full tile
 *   tile/entries/<N>[.p/<W>]    entry bundles (uint16 big-endian length prefixes)
 *
 * <N> is written in zero-padded three-digit groups, all but the last prefixed
 * with `x` (1234067 -> x001/x234/067), so a file and a directory never share a
 * name. A tile at level L holds hashes of subtrees of 256^L leaves; the n-th
 * tile at level L spans leaves [n*256^(L+1), (n+1)*256^(L+1)). A partial tile
 * (the rightmost one at a level) has 1..255 hashes and the `.p/<W>` suffix.
 *
 * All index arithmetic uses plain division, never 32-bit bit operators, so
 * every safe integer tree size works.
 */
import { HASH_SIZE } from './hash.js';
import { TlogError } from './errors.js';
import { MAX_LOG_ENTRY_BYTES, TLOG_BOUNDS } from '../limits.js';

/** Levels of the binary tree covered by one tile. */
export const TILE_HEIGHT = 8;
/** Hashes (or entries) in a full tile (or bundle). */
export const TILE_WIDTH = 256;
/** The largest entry an entry bundle can carry (uint16 length prefix); the number lives in src/limits.ts. */
export const MAX_ENTRY_BYTES = MAX_LOG_ENTRY_BYTES;

/** `N` as a tile path: zero-padded groups of three digits, `x` on all but the last. */
export function formatTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new TlogError('TLOG_TILE_MALFORMED', `tile index ${index} is not a non-negative safe integer`);
  }
  let n = index;
  const groups: string[] = [String(n % 1000).padStart(3, '0')];
  n = Math.floor(n / 1000);
  while (n > 0) {
    groups.unshift(`x${String(n % 1000).padStart(3, '0')}`);
    n = Math.floor(n / 1000);
  }
  return groups.join('/');
}

function checkWidth(width: number): void {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new TlogError('TLOG_TILE_MALFORMED', `tile width ${width} is not in 1..${TILE_WIDTH}`);
  }
}

function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > TLOG_BOUNDS.tileLevel) {
    throw new TlogError('TLOG_TILE_MALFORMED', `tile level ${level} is not in 0..${TLOG_BOUNDS.tileLevel}`);
  }
}

function suffix(width: number): string {
  checkWidth(width);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** Path of a Merkle tree tile, relative to the log prefix (`tile/0/x001/234.p/5`). */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  checkLevel(level);
  return `tile/${level}/${formatTileIndex(index)}${suffix(width)}`;
}

/** Path of an entry bundle, relative to the log prefix (`tile/entries/000.p/3`). */
export function entriesPath(index: number, width: number = TILE_WIDTH): string {
  return `tile/entries/${formatTileIndex(index)}${suffix(width)}`;
}

export interface TileCoords {
  /** Tile level, or 'entries' for an entry bundle. */
  level: number | 'entries';
  index: number;
  /** 256 for a full tile, 1..255 for a partial one. */
  width: number;
}

const TILE_PATH = /^tile\/(0|[1-9][0-9]?|entries)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/** Parses a canonical tile or entry-bundle path; anything else is TLOG_TILE_MALFORMED. */
export function parseTilePath(path: string): TileCoords {
  const m = TILE_PATH.exec(path);
  if (!m) throw new TlogError('TLOG_TILE_MALFORMED', `not a tile path: ${JSON.stringify(path.slice(0, 200))}`);
  const level = m[1] === 'entries' ? 'entries' : Number(m[1]);
  const digits = m[2].replace(/[x/]/g, '');
  const index = Number(digits);
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (typeof level === 'number') checkLevel(level);
  if (!Number.isSafeInteger(index) || (m[3] !== undefined && width >= TILE_WIDTH)) {
    throw new TlogError('TLOG_TILE_MALFORMED', `tile path out of range: ${path}`);
  }
  // One name per tile: reject leading x000 groups and other non-canonical forms.
  const canonical = level === 'entries' ? entriesPath(index, width) : tilePath(level, index, width);
  if (canonical !== path) throw new TlogError('TLOG_TILE_MALFORMED', `non-canonical tile path: ${path}`);
  return { level, index, width };
}

/**
 * Width of tile `index` at `level` in a tree of `treeSize` leaves: 256 when
 * full, 1..255 when it is the rightmost partial tile, 0 when it does not exist.
 */
export function tileWidth(level: number, index: number, treeSize: number): number {
  const hashesAtLevel = Math.floor(treeSize / TILE_WIDTH ** level);
  const remaining = hashesAtLevel - index * TILE_WIDTH;
  if (remaining <= 0) return 0;
  return Math.min(TILE_WIDTH, remaining);
}

/** Encodes entries as an entry bundle: each entry prefixed with its uint16 big-endian length. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  if (entries.length > TILE_WIDTH) {
    throw new TlogError('TLOG_TILE_MALFORMED', `an entry bundle holds at most ${TILE_WIDTH} entries`);
  }
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) {
      throw new TlogError('TLOG_TILE_MALFORMED', `entry of ${e.length} bytes does not fit a uint16 length`);
    }
    const len = Buffer.alloc(2);
    len.writeUInt16BE(e.length);
    parts.push(len, Buffer.from(e.buffer, e.byteOffset, e.byteLength));
  }
  return Buffer.concat(parts);
}

/** Decodes an entry bundle; with `expectedCount`, the bundle must hold exactly that many entries. */
export function decodeEntryBundle(bundle: Buffer, expectedCount?: number): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < bundle.length) {
    if (off + 2 > bundle.length) throw new TlogError('TLOG_TILE_MALFORMED', 'entry bundle ends inside a length prefix');
    const len = bundle.readUInt16BE(off);
    off += 2;
    if (off + len > bundle.length) throw new TlogError('TLOG_TILE_MALFORMED', 'entry bundle ends inside an entry');
    out.push(bundle.subarray(off, off + len));
    off += len;
    if (out.length > TILE_WIDTH) throw new TlogError('TLOG_TILE_MALFORMED', 'entry bundle holds more than 256 entries');
  }
  if (expectedCount !== undefined && out.length !== expectedCount) {
    throw new TlogError('TLOG_TILE_MALFORMED', `entry bundle holds ${out.length} entries, expected ${expectedCount}`);
  }
  return out;
}

/** Encodes hashes as a tile (their concatenation). */
export function encodeTile(hashes: readonly Buffer[]): Buffer {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH) {
    throw new TlogError('TLOG_TILE_MALFORMED', `a tile holds 1..${TILE_WIDTH} hashes, got ${hashes.length}`);
  }
  for (const h of hashes) {
    if (h.length !== HASH_SIZE) throw new TlogError('TLOG_TILE_MALFORMED', 'tile hash is not 32 bytes');
  }
  return Buffer.concat(hashes);
}

/** Splits tile bytes into hashes; the tile must be exactly `width` hashes long. */
export function decodeTile(tile: Buffer, width: number): Buffer[] {
  checkWidth(width);
  if (tile.length !== width * HASH_SIZE) {
    throw new TlogError('TLOG_TILE_MALFORMED', `tile is ${tile.length} bytes, expected ${width * HASH_SIZE}`);
  }
  const out: Buffer[] = [];
  for (let i = 0; i < width; i++) out.push(tile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}
