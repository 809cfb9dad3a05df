/**
 * RFC 9162 (section 2.1.1) Merkle tree hashing with SHA-256:
 *   leaf  = SHA-256(0x00 || entry)
 *   node  = SHA-256(0x01 || left || right)
 *   empty = SHA-256("")
 * The distinct prefixes keep a leaf from ever being passed off as an inner
 * node (second-preimage defence); every hash in this module is 32 bytes.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

// crypto.hash (Node >= 20.12) is about twice as fast as createHash for
// short inputs, and proofs hash many 65-byte nodes; older Node falls back.
const oneShot: ((alg: string, data: Uint8Array, enc: 'buffer') => Buffer) | undefined =
  typeof crypto.hash === 'function' ? (crypto.hash) : undefined;

/** SHA-256(0x00 || entry): the hash of one log entry. */
export function leafHash(entry: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

const NODE_SCRATCH = Buffer.alloc(1 + 2 * HASH_SIZE, 0x01);

/** SHA-256(0x01 || left || right): the hash of an inner node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (oneShot && left.length === HASH_SIZE && right.length === HASH_SIZE) {
    // One scratch buffer: crypto.hash is synchronous, so no call can interleave.
    NODE_SCRATCH.set(left, 1);
    NODE_SCRATCH.set(right, 1 + HASH_SIZE);
    return oneShot('sha256', NODE_SCRATCH, 'buffer');
  }
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The root of the empty tree, SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** The root of the empty tree (a fresh copy, safe to mutate). */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}

/** Hashes 2^k consecutive sibling hashes up to their subtree root. */
export function hashUp(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0 || (hashes.length & (hashes.length - 1)) !== 0) {
    throw new RangeError(`hashUp needs a power-of-two number of hashes, got ${hashes.length}`);
  }
  let level = hashes.slice();
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
    level = next;
  }
  return level[0];
}

/** The largest power of two strictly below n (n >= 2), exact for any safe integer. */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** True when n is a positive power of two (exact for any safe integer). */
export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}
