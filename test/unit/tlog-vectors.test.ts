/**
 * RFC 6962 section 2.1.3 reference tree: eight leaves and the published roots,
 * inclusion and consistency proofs, pinned as literal hex. The values are the
 * ones in transparency-dev/merkle proof/verify_test.go (the Certificate
 * Transparency test data); indices there are 1-based leaf numbers, here
 * 0-based leaf indices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EMPTY_ROOT,
  generateLogKey,
  leafHash,
  nodeHash,
  TransparencyLog,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex);

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** ROOTS[n-1] is the root of the tree of the first n leaves. */
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

const INCLUSION: Array<{ index: number; size: number; proof: string[] }> = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const CONSISTENCY: Array<{ m: number; n: number; proof: string[] }> = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const root = (n: number): Buffer => (n === 0 ? unhex(EMPTY) : unhex(ROOTS[n - 1]));

test('hash primitives: empty root, leaf and node hashes', () => {
  assert.equal(hex(EMPTY_ROOT), EMPTY);
  assert.equal(hex(leafHash(LEAVES[0])), ROOTS[0], 'a one-leaf tree root is its leaf hash');
  assert.equal(hex(nodeHash(leafHash(LEAVES[0]), leafHash(LEAVES[1]))), ROOTS[1]);
});

test('RFC 6962 reference tree through the tiled log: roots, proofs and byte-exact vectors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ztrust-tlog-vectors-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { skey } = generateLogKey('example.org/vectors');
  const log = await TransparencyLog.open(dir, { origin: 'example.org/vectors', signer: skey });
  t.after(() => log.close());
  assert.equal(hex(await log.rootAt(0)), EMPTY);
  for (const leaf of LEAVES) await log.append([leaf]);
  assert.equal(log.size(), 8);
  for (let n = 0; n <= 8; n++) assert.equal(hex(await log.rootAt(n)), hex(root(n)), `root of size ${n}`);
  for (const v of INCLUSION) {
    const proof = await log.inclusionProof(v.index, v.size);
    assert.deepEqual(proof.map(hex), v.proof, `inclusion ${v.index} in ${v.size}`);
  }
  for (const v of CONSISTENCY) {
    const proof = await log.consistencyProof(v.m, v.n);
    assert.deepEqual(proof.map(hex), v.proof, `consistency ${v.m} -> ${v.n}`);
  }
});

test('verifyInclusion accepts the published proofs and rejects every corruption', () => {
  for (const v of INCLUSION) {
    const leaf = leafHash(LEAVES[v.index]);
    const proof = v.proof.map(unhex);
    const r = root(v.size);
    assert.ok(verifyInclusion(leaf, v.index, v.size, proof, r), `${v.index}/${v.size}`);
    // The corruptions transparency-dev's verifier tests probe.
    const bad: Array<[string, boolean]> = [
      ['index - 1', v.index > 0 && verifyInclusion(leaf, v.index - 1, v.size, proof, r)],
      ['index + 1', verifyInclusion(leaf, v.index + 1, v.size, proof, r)],
      ['index ^ 2', verifyInclusion(leaf, v.index ^ 2, v.size, proof, r)],
      ['size * 2', verifyInclusion(leaf, v.index, v.size * 2, proof, r)],
      ['size / 2', verifyInclusion(leaf, v.index, Math.floor(v.size / 2), proof, r)],
      ['wrong leaf', verifyInclusion(leafHash(Buffer.from('WrongLeaf')), v.index, v.size, proof, r)],
      ['empty root', verifyInclusion(leaf, v.index, v.size, proof, EMPTY_ROOT)],
      ['trailing root', verifyInclusion(leaf, v.index, v.size, [...proof, r], r)],
      ['preceding root', verifyInclusion(leaf, v.index, v.size, [r, ...proof], r)],
      ['short hash', verifyInclusion(leaf, v.index, v.size, [...proof, Buffer.alloc(0)], r)],
    ];
    for (let i = 0; i < proof.length; i++) {
      const p = proof.map((h) => Buffer.from(h));
      p[i][0] ^= 8;
      bad.push([`bit flip in proof[${i}]`, verifyInclusion(leaf, v.index, v.size, p, r)]);
    }
    if (proof.length > 0) bad.push(['removed component', verifyInclusion(leaf, v.index, v.size, proof.slice(0, -1), r)]);
    for (const [what, accepted] of bad) assert.equal(accepted, false, `${v.index}/${v.size}: ${what} accepted`);
  }
});

test('verifyConsistency accepts the published proofs and rejects every corruption', () => {
  for (const v of CONSISTENCY) {
    const proof = v.proof.map(unhex);
    const r1 = root(v.m);
    const r2 = root(v.n);
    assert.ok(verifyConsistency(v.m, v.n, proof, r1, r2), `${v.m} -> ${v.n}`);
    if (proof.length === 0) continue;
    const bad: Array<[string, boolean]> = [
      ['size1 - 1', verifyConsistency(v.m - 1, v.n, proof, r1, r2)],
      ['size1 + 1', verifyConsistency(v.m + 1, v.n, proof, r1, r2)],
      ['size1 ^ 2', verifyConsistency(v.m ^ 2, v.n, proof, r1, r2)],
      ['size2 * 2', verifyConsistency(v.m, v.n * 2, proof, r1, r2)],
      ['size2 / 2', verifyConsistency(v.m, Math.floor(v.n / 2), proof, r1, r2)],
      ['swapped roots', verifyConsistency(v.m, v.n, proof, r2, r1)],
      ['empty proof', verifyConsistency(v.m, v.n, [], r1, r2)],
      ['trailing root1', verifyConsistency(v.m, v.n, [...proof, r1], r1, r2)],
      ['preceding root2', verifyConsistency(v.m, v.n, [r2, ...proof], r1, r2)],
      ['preceding proof[0]', verifyConsistency(v.m, v.n, [proof[0], ...proof], r1, r2)],
      ['truncated', verifyConsistency(v.m, v.n, proof.slice(0, -1), r1, r2)],
    ];
    for (let i = 0; i < proof.length; i++) {
      const p = proof.map((h) => Buffer.from(h));
      p[i][0] ^= 16;
      bad.push([`bit flip in proof[${i}]`, verifyConsistency(v.m, v.n, p, r1, r2)]);
    }
    for (const [what, accepted] of bad) assert.equal(accepted, false, `${v.m} -> ${v.n}: ${what} accepted`);
  }
});

test('consistency from size 0 and between equal sizes (documented treatment)', () => {
  // The empty tree is a prefix of every tree: the proof is empty, and the old
  // root must be SHA-256("") (transparency-dev accepts any old root here; we
  // refuse a size-0 checkpoint that claims another root).
  for (let n = 0; n <= 8; n++) assert.ok(verifyConsistency(0, n, [], EMPTY_ROOT, root(n)), `0 -> ${n}`);
  assert.equal(verifyConsistency(0, 8, [], root(1), root(8)), false, 'size 0 with a non-empty root');
  assert.equal(verifyConsistency(0, 8, [root(8)], EMPTY_ROOT, root(8)), false, 'size 0 with a non-empty proof');
  assert.ok(verifyConsistency(5, 5, [], root(5), root(5)));
  assert.equal(verifyConsistency(5, 5, [], root(5), root(6)), false, 'equal sizes, different roots');
  assert.equal(verifyConsistency(5, 5, [EMPTY_ROOT], root(5), root(5)), false, 'equal sizes, non-empty proof');
  assert.equal(verifyConsistency(6, 5, [], root(6), root(5)), false, 'time travel');
});

test('@sigstore/verify, an independent RFC 6962 verifier, accepts the log proofs of the reference tree', async (t) => {
  const require = createRequire(import.meta.url);
  let merkle: { verifyMerkleInclusion: (entry: unknown, checkpoint: unknown) => void };
  try {
    merkle = require('@sigstore/verify/dist/tlog/merkle.js') as typeof merkle;
  } catch {
    t.skip('@sigstore/verify is not installed');
    return;
  }
  for (const v of INCLUSION) {
    const entry = { canonicalizedBody: LEAVES[v.index], inclusionProof: { logIndex: String(v.index), hashes: v.proof.map(unhex) } };
    assert.doesNotThrow(() => merkle.verifyMerkleInclusion(entry, { logSize: BigInt(v.size), logHash: root(v.size) }));
    assert.throws(() => merkle.verifyMerkleInclusion(entry, { logSize: BigInt(v.size), logHash: EMPTY_ROOT }));
  }
});
