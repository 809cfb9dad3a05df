/** C2SP tlog-tiles paths, widths and encodings, checked against the spec's own examples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  encodeTile,
  entriesPath,
  formatTileIndex,
  parseTilePath,
  TileCache,
  tilePath,
  tileWidth,
  TlogError,
  TreeReader,
} from '../../src/tlog/index.js';

const isTlog = (code: string) => (err: unknown) => err instanceof TlogError && err.code === code;

test('tile indices in x-prefixed three-digit groups (spec example: 1234067 -> x001/x234/067)', () => {
  assert.equal(formatTileIndex(1234067), 'x001/x234/067');
  assert.equal(formatTileIndex(0), '000');
  assert.equal(formatTileIndex(999), '999');
  assert.equal(formatTileIndex(1000), 'x001/000');
  assert.equal(formatTileIndex(1234), 'x001/234');
  assert.equal(formatTileIndex(Number.MAX_SAFE_INTEGER), 'x009/x007/x199/x254/x740/991');
  assert.throws(() => formatTileIndex(-1), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => formatTileIndex(1.5), isTlog('TLOG_TILE_MALFORMED'));
});

test('tile and entry bundle paths, full and partial, and their strict parser', () => {
  assert.equal(tilePath(0, 1234067), 'tile/0/x001/x234/067');
  assert.equal(tilePath(1, 5, 17), 'tile/1/005.p/17');
  assert.equal(entriesPath(1234, 3), 'tile/entries/x001/234.p/3');
  assert.equal(entriesPath(0), 'tile/entries/000');
  for (const p of ['tile/0/x001/x234/067', 'tile/1/005.p/17', 'tile/entries/x001/234.p/3', 'tile/63/000', 'tile/entries/000.p/255']) {
    const c = parseTilePath(p);
    assert.equal(c.level === 'entries' ? entriesPath(c.index, c.width) : tilePath(c.level, c.index, c.width), p);
  }
  assert.deepEqual(parseTilePath('tile/2/x001/000.p/9'), { level: 2, index: 1000, width: 9 });
  for (const bad of [
    'tile/0/x000/001', // non-canonical leading group
    'tile/64/000', // level out of range
    'tile/01/000',
    'tile/0/000.p/256',
    'tile/0/000.p/0',
    'tile/0/000.p/07',
    'tile/0/1',
    'tile/0/001/',
    'tile/0/../000',
    '/tile/0/000',
    'tile/x/000',
    'tile/0/x001',
  ]) {
    assert.throws(() => parseTilePath(bad), isTlog('TLOG_TILE_MALFORMED'), bad);
  }
  assert.throws(() => tilePath(64, 0), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => tilePath(0, 0, 0), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => tilePath(0, 0, 257), isTlog('TLOG_TILE_MALFORMED'));
});

test('tile widths follow the spec examples (sizes 70,000 and 256)', () => {
  // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
  // partial level 0 tile of width 112, one full level 1 tile, one partial
  // level 1 tile of width 17, and one partial level 2 tile of width 1."
  assert.equal(tileWidth(0, 272, 70000), 256);
  assert.equal(tileWidth(0, 273, 70000), 112);
  assert.equal(tileWidth(0, 274, 70000), 0);
  assert.equal(tileWidth(1, 0, 70000), 256);
  assert.equal(tileWidth(1, 1, 70000), 17);
  assert.equal(tileWidth(2, 0, 70000), 1);
  assert.equal(tileWidth(3, 0, 70000), 0);
  // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
  assert.equal(tileWidth(0, 0, 256), 256);
  assert.equal(tileWidth(0, 1, 256), 0);
  assert.equal(tileWidth(1, 0, 256), 1);
  assert.equal(tileWidth(0, 0, 0), 0);
});

test('entry bundles: big-endian uint16 length prefixes, exact counts, 65535-byte maximum', () => {
  const entries = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(300, 1), Buffer.alloc(65535, 2)];
  const b = encodeEntryBundle(entries);
  assert.equal(b.subarray(0, 5).toString('hex'), '0000000161');
  assert.equal(b.readUInt16BE(5), 300);
  assert.deepEqual(decodeEntryBundle(b, 4), entries);
  assert.throws(() => decodeEntryBundle(b, 3), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => decodeEntryBundle(b.subarray(0, b.length - 1)), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => decodeEntryBundle(Buffer.from([0])), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => encodeEntryBundle([Buffer.alloc(65536)]), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => encodeEntryBundle(Array.from({ length: 257 }, () => Buffer.alloc(0))), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => decodeEntryBundle(Buffer.alloc(2 * 257)), isTlog('TLOG_TILE_MALFORMED'), '257 empty entries');
});

test('hash tiles are concatenated 32-byte hashes of exactly the declared width', () => {
  const hashes = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)];
  const t = encodeTile(hashes);
  assert.equal(t.length, 96);
  assert.deepEqual(decodeTile(t, 3), hashes);
  assert.throws(() => decodeTile(t, 2), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => decodeTile(t.subarray(1), 3), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => encodeTile([Buffer.alloc(31)]), isTlog('TLOG_TILE_MALFORMED'));
  assert.throws(() => encodeTile([]), isTlog('TLOG_TILE_MALFORMED'));
});

test('the tile cache stays within its bound and retries failed loads', async () => {
  const cache = new TileCache(4, 8);
  for (let i = 0; i < 20; i++) await cache.get(`k${i}`, async () => ({ nodes: [[Buffer.alloc(32)]] }));
  assert.equal(cache.size, 4);
  await assert.rejects(cache.get('bad', async () => Promise.reject(new Error('io'))));
  await new Promise((r) => setImmediate(r));
  const ok = await cache.get('bad', async () => ({ nodes: [[Buffer.alloc(32, 1)]] }));
  assert.equal(ok.nodes[0][0][0], 1, 'a failed load is not cached');
  for (let i = 0; i < 20; i++) cache.setRange(`${i}`, Buffer.alloc(32));
  assert.equal(cache.getRange('0'), undefined);
  assert.ok(cache.getRange('19'));
});

test('proofs for scattered entries keep the few higher tiles cached: level-0 tiles do not evict them', async () => {
  // A million-entry tree whose tiles are made up on the fly: only which
  // tiles get read matters here, not their hashes.
  const size = 1_000_000;
  const reads = new Map<number, number>();
  const fetch = async (level: number, index: number, width: number): Promise<Buffer> => {
    reads.set(level, (reads.get(level) ?? 0) + 1);
    return encodeTile(Array.from({ length: width }, (_, i) => Buffer.alloc(32, (level * 31 + index + i) % 251)));
  };
  const cache = new TileCache(32); // room for all 17 higher tiles, a tiny share of the 3,907 level-0 ones
  const reader = new TreeReader(size, fetch, cache);
  for (let i = 0; i < 200; i++) await reader.inclusionProof((i * 7919 * 131) % size);
  // 1,000,000 entries: 16 level-1 tiles (15 full, 1 partial) and 1 level-2 tile.
  assert.ok((reads.get(1) ?? 0) <= 16, `level-1 tiles read ${reads.get(1)} times for 200 proofs (16 exist)`);
  assert.equal(reads.get(2), 1);
  assert.ok((reads.get(0) ?? 0) >= 190, 'level-0 tiles are scattered: nearly every proof reads one');
  assert.ok(cache.size <= 64, 'each bound still holds');
});
