/** How the IMAP intake groups messages into one-command fetches (queue/intake/imap.ts, fetchBatches). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { expandUidSet, fetchBatches, uidSet } from '../../queue/intake/imap.js';
import { INTAKE_BOUNDS } from '../../src/limits.js';

const limits = { maxMessageBytes: 1_000_000 };
const msgs = (sizes: (number | undefined)[]) => sizes.map((size, i) => ({ uid: i + 1, size }));
const uids = (batches: { uid: number }[][]) => batches.map((b) => b.map((m) => m.uid));

test('messages within the limit go together, in UID order, up to the message bound', () => {
  const n = INTAKE_BOUNDS.fetchBatchMessages * 2 + 3;
  const batches = fetchBatches(msgs(Array<number>(n).fill(1000)), limits);
  assert.deepEqual(batches.map((b) => b.length), [INTAKE_BOUNDS.fetchBatchMessages, INTAKE_BOUNDS.fetchBatchMessages, 3]);
  assert.deepEqual(batches.flat().map((m) => m.uid), Array.from({ length: n }, (_, i) => i + 1));
});

test('a message over the size limit is fetched on its own (header section only), between the batches around it', () => {
  assert.deepEqual(uids(fetchBatches(msgs([10, 20, 2_000_000, 30, 40]), limits)), [[1, 2], [3], [4, 5]]);
});

test('the declared bytes of a batch stay within the byte bound; an unknown size counts as the whole limit', () => {
  const per = 900_000;
  const batches = fetchBatches(msgs(Array<number>(30).fill(per)), limits);
  for (const b of batches) assert.ok(b.length === 1 || b.length * per <= INTAKE_BOUNDS.fetchBatchBytes, `batch of ${b.length}`);
  assert.equal(batches.flat().length, 30);
  const unknown = fetchBatches(msgs(Array<undefined>(30).fill(undefined)), limits);
  assert.equal(unknown[0].length, Math.floor(INTAKE_BOUNDS.fetchBatchBytes / (limits.maxMessageBytes + 1)));
});

test('nothing to fetch is no batch', () => {
  assert.deepEqual(fetchBatches([], limits), []);
});

test('UIDs go on the wire as a sequence set with runs as ranges', () => {
  assert.equal(uidSet([]), '');
  assert.equal(uidSet([7]), '7');
  assert.equal(uidSet([1, 2, 3]), '1:3');
  assert.equal(uidSet([1, 2, 3, 5, 7, 8, 10]), '1:3,5,7:8,10');
  const many = Array.from({ length: 60_000 }, (_, i) => i + 101);
  assert.equal(uidSet(many), '101:60100');
});

test('an ESEARCH ALL sequence set expands to its UIDs, within a bound', () => {
  assert.deepEqual(expandUidSet('', 10), []);
  assert.deepEqual(expandUidSet('7', 10), [7]);
  assert.deepEqual(expandUidSet('1:3,5,9:8', 10), [1, 2, 3, 5, 8, 9]);
  // The bound counts UIDs: a server's "1:4294967295" is refused, not expanded.
  assert.equal(expandUidSet('1:4294967295', 60_000), null);
  assert.equal(expandUidSet('1:5,7:8', 6), null);
  assert.deepEqual(expandUidSet('1:5,7', 6), [1, 2, 3, 4, 5, 7]);
  assert.deepEqual(expandUidSet('4294967295', 1), [4294967295]);
  for (const bad of ['*', '1:*', '0', '0:3', '1,,2', '1:2:3', ' 1', '1;2', '-1', '12345678901', '4294967296', '9999999999']) {
    assert.equal(expandUidSet(bad, 1_000), null, bad);
  }
  // What uidSet writes, expandUidSet reads back.
  fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }), (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    assert.deepEqual(expandUidSet(uidSet(sorted), sorted.length), sorted);
  }));
});
