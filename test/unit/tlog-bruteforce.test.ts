/**
 * The tiled log against a brute-force Merkle tree written straight from the
 * RFC 9162 definitions (MTH 2.1.1, PATH 2.1.3.1, SUBPROOF 2.1.4.1), for every
 * tree size 0..300 (crossing the 256-entry tile boundary, so level-1 tiles and
 * dropped partial tiles are exercised): every root, every (index, size)
 * inclusion proof and every (m, n) consistency proof with 0 <= m <= n <= 300,
 * each also checked by the verifiers, and the inclusion proofs by
 * @sigstore/verify's independent verifier.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLogKey, parseCheckpoint, parseNote, TransparencyLog, verifyConsistency, verifyInclusion } from '../../src/tlog/index.js';

const MAX = 300;

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The RFC's recursive definitions, memoised by range; shares nothing with src/tlog but SHA-256. */
class ReferenceTree {
  readonly leaves: Buffer[] = [];
  private readonly memo = new Map<number, Buffer>();

  push(entry: Uint8Array): void {
    this.leaves.push(sha256(Buffer.from([0]), entry));
  }

  private static k(n: number): number {
    let k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  }

  /** MTH(D[a:b]). */
  mth(a: number, b: number): Buffer {
    const n = b - a;
    if (n === 0) return sha256();
    if (n === 1) return this.leaves[a];
    const key = a * 100_000 + b;
    let h = this.memo.get(key);
    if (!h) {
      const k = ReferenceTree.k(n);
      h = sha256(Buffer.from([1]), this.mth(a, a + k), this.mth(a + k, b));
      this.memo.set(key, h);
    }
    return h;
  }

  /** PATH(m, D[a:b]), m relative to a. */
  path(m: number, a: number, b: number): Buffer[] {
    const n = b - a;
    if (n === 1) return [];
    const k = ReferenceTree.k(n);
    if (m < k) return [...this.path(m, a, a + k), this.mth(a + k, b)];
    return [...this.path(m - k, a + k, b), this.mth(a, a + k)];
  }

  /** SUBPROOF(m, D[a:b], b), m relative to a. */
  subproof(m: number, a: number, b: number, whole: boolean): Buffer[] {
    const n = b - a;
    if (m === n) return whole ? [] : [this.mth(a, b)];
    const k = ReferenceTree.k(n);
    if (m <= k) return [...this.subproof(m, a, a + k, whole), this.mth(a + k, b)];
    return [...this.subproof(m - k, a + k, b, false), this.mth(a, a + k)];
  }
}

const entryFor = (i: number): Buffer => (i % 7 === 0 ? Buffer.alloc(0) : Buffer.from(`entry ${i} `.repeat(1 + (i % 5))));

function same(a: Buffer[], b: Buffer[]): boolean {
  return a.length === b.length && a.every((h, i) => h.equals(b[i]));
}

/**
 * Append batch sizes: many single appends (every partial-tile width near the
 * start and across the 256 boundary, where tile 0 fills, its partial tiles are
 * dropped and level 1 appears), larger batches elsewhere to keep the number of
 * fsync-bound appends, and so the test time, small.
 */
function batches(): number[] {
  const out = [1, 1, 1, 1, 1, 1, 1, 1, 3, 5, 8, 13, 21, 34, 55, 89]; // sizes 1..8, then up to 236
  for (let n = 236; n < 258; n++) out.push(1); // sizes 237..258, one by one across the tile boundary
  out.push(3, 7, 32); // 300
  return out;
}

test('tiled log == brute-force RFC 9162 tree for every size, inclusion and consistency pair up to 300', async (t) => {
  const require = createRequire(import.meta.url);
  type Merkle = { verifyMerkleInclusion: (entry: unknown, checkpoint: unknown) => void };
  let sigstore: Merkle | null = null;
  try {
    sigstore = require('@sigstore/verify/dist/tlog/merkle.js') as Merkle;
  } catch {
    sigstore = null; // the cross-check below is skipped, the rest still runs
  }
  const dir = await mkdtemp(join(tmpdir(), 'ztrust-tlog-brute-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { skey } = generateLogKey('example.org/brute');
  const log = await TransparencyLog.open(dir, { origin: 'example.org/brute', signer: skey });
  t.after(() => log.close());
  const ref = new ReferenceTree();
  const roots: Buffer[] = [ref.mth(0, 0)];

  /** Every inclusion proof into size n and every consistency proof into n, from the log as it is now. */
  let sigstoreChecked = 0;
  async function checkAllInto(n: number, crossCheck = false): Promise<void> {
    const inclusion = await Promise.all(Array.from({ length: n }, (_, i) => log.inclusionProof(i, n)));
    for (let i = 0; i < n; i++) {
      if (!same(inclusion[i], ref.path(i, 0, n))) assert.fail(`inclusion proof ${i} in ${n} differs from PATH (log size ${log.size()})`);
      if (!verifyInclusion(ref.leaves[i], i, n, inclusion[i], roots[n])) assert.fail(`inclusion ${i}/${n} does not verify`);
      if (crossCheck && sigstore) {
        // @sigstore/verify's independent RFC 6962 verifier (throws on failure).
        sigstore.verifyMerkleInclusion(
          { canonicalizedBody: entryFor(i), inclusionProof: { logIndex: String(i), hashes: inclusion[i] } },
          { logSize: BigInt(n), logHash: roots[n] },
        );
        sigstoreChecked++;
      }
    }
    const consistency = await Promise.all(Array.from({ length: n + 1 }, (_, m) => log.consistencyProof(m, n)));
    for (let m = 0; m <= n; m++) {
      const want = m === 0 ? [] : ref.subproof(m, 0, n, true);
      if (!same(consistency[m], want)) assert.fail(`consistency proof ${m} -> ${n} differs from PROOF (log size ${log.size()})`);
      if (!verifyConsistency(m, n, consistency[m], roots[m], roots[n])) assert.fail(`consistency ${m} -> ${n} does not verify`);
    }
  }

  assert.ok(parseCheckpoint(parseNote(log.checkpoint()).text).root.equals(roots[0]), 'size-0 checkpoint root');
  for (const k of batches()) {
    const from = ref.leaves.length;
    const entries = Array.from({ length: k }, (_, j) => entryFor(from + j));
    const { firstIndex, checkpoint } = await log.append(entries);
    assert.equal(firstIndex, from);
    for (const e of entries) {
      ref.push(e);
      roots.push(ref.mth(0, ref.leaves.length));
    }
    const n = ref.leaves.length;
    const cp = parseCheckpoint(parseNote(checkpoint).text);
    assert.equal(cp.size, n);
    assert.ok(cp.root.equals(roots[n]), `checkpoint root at size ${n}`);
    // While n is the log's current size its rightmost tiles are partial ones.
    await checkAllInto(n);
  }
  assert.equal(log.size(), MAX);

  // Every size, every pair, from the full log (old sizes come from full tiles
  // and from level-1 hashes; the partial tiles of tile 0 are gone by now).
  for (let n = 0; n <= MAX; n++) {
    assert.ok((await log.rootAt(n)).equals(roots[n]), `rootAt(${n}) at size ${MAX}`);
    await checkAllInto(n, true);
  }

  if (!sigstore) {
    t.diagnostic('@sigstore/verify not installed: its cross-check was skipped');
    return;
  }
  assert.equal(sigstoreChecked, (MAX * (MAX + 1)) / 2);
  assert.throws(
    () =>
      sigstore.verifyMerkleInclusion(
        { canonicalizedBody: entryFor(1), inclusionProof: { logIndex: '0', hashes: [] } },
        { logSize: 1n, logHash: roots[1] },
      ),
    'the cross-checker must itself reject a wrong entry',
  );
});
