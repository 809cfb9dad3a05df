/**
 * Proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) and the text
 * blocks that carry proofs by mail.
 *
 * Inclusion: the C2SP tlog-proof format (c2sp.org/tlog-proof@v1):
 *
 *   c2sp.org/tlog-proof@v1
 *   [extra <base64 opaque data>]
 *   index <decimal>
 *   <base64 hash>          zero or more, the leaf's sibling first
 *   <empty line>
 *   <signed checkpoint, verbatim>
 *
 * Consistency: C2SP defines no stand-alone block, so this one is ours. Its
 * middle is exactly a tlog-witness add-checkpoint request body (`old` line,
 * proof lines, empty line, checkpoint), so it can be handed to a witness
 * as it is; the old checkpoint follows so the block checks on its own:
 *
 *   ztrust-bot/tlog-consistency@v1
 *   old <decimal old size>
 *   <base64 hash>          zero or more (none when old size is 0 or equal)
 *   <empty line>
 *   <new signed checkpoint>
 *   <empty line>           \ omitted when the old size is 0: the empty tree
 *   <old signed checkpoint> / needs no checkpoint, its root is SHA-256("")
 *
 * Size 0: the empty tree is a prefix of every tree. A consistency proof from
 * size 0 is empty and verifies only if the old root is SHA-256("") (a
 * checkpoint of size 0 claiming any other root is refused), as tlog-witness
 * requires an empty proof for old size 0.
 *
 * Blocks travel by mail, so parsing accepts CRLF line ends (a signed note
 * cannot contain CR, so dropping it loses nothing) and nothing else loose.
 */
import { decodeBase64Strict } from './base64.js';
import { parseCheckpoint, verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { TlogError, type TlogErrorCode } from './errors.js';
import { EMPTY_ROOT, HASH_SIZE, leafHash, nodeHash } from './hash.js';
import { TLOG_BOUNDS } from '../limits.js';
import { parseNote, SIG_PREFIX } from './note.js';

export const PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
export const CONSISTENCY_HEADER = 'ztrust-bot/tlog-consistency@v1';

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function validHashes(proof: readonly Uint8Array[]): boolean {
  return proof.length <= TLOG_BOUNDS.proofHashes && proof.every((h) => h.length === HASH_SIZE);
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** RFC 9162 section 2.1.3.2: does `proof` place `leaf` at `index` in the tree of `size` with `root`? */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isSize(index) || !isSize(size) || index >= size) return false;
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE || !validHashes(proof)) return false;
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && eq(r, root);
}

/**
 * RFC 9162 section 2.1.4.2: is the tree of `newSize` with `newRoot` an
 * append-only extension of the tree of `oldSize` with `oldRoot`? Sizes equal:
 * the proof must be empty and the roots equal. Old size 0: the proof must be
 * empty and the old root SHA-256("").
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): boolean {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) return false;
  if (oldRoot.length !== HASH_SIZE || newRoot.length !== HASH_SIZE || !validHashes(proof)) return false;
  if (oldSize === 0) return proof.length === 0 && eq(oldRoot, EMPTY_ROOT);
  if (oldSize === newSize) return proof.length === 0 && eq(oldRoot, newRoot);
  if (proof.length === 0) return false;
  let path: readonly Uint8Array[] = proof;
  const first = BigInt(oldSize);
  if ((first & (first - 1n)) === 0n) path = [oldRoot, ...proof]; // old tree is a complete subtree
  let fn = first - 1n;
  let sn = BigInt(newSize) - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr: Uint8Array = path[0];
  let sr: Uint8Array = path[0];
  for (let i = 1; i < path.length; i++) {
    const c = path[i];
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && eq(fr, oldRoot) && eq(sr, newRoot);
}

// ---- shared text helpers ----------------------------------------------------

function normalize(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

function parseDecimal(s: string, what: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new TlogError('TLOG_PROOF_MALFORMED', `${what} is not a canonical decimal`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new TlogError('TLOG_PROOF_MALFORMED', `${what} is too large`);
  return n;
}

/** Reads base64 hash lines from `lines[i]` up to the empty line; returns hashes and the index after the empty line. */
function readHashes(lines: string[], i: number): { hashes: Buffer[]; next: number } {
  const hashes: Buffer[] = [];
  for (; i < lines.length && lines[i] !== ''; i++) {
    const h = decodeBase64Strict(lines[i]);
    if (!h || h.length !== HASH_SIZE) throw new TlogError('TLOG_PROOF_MALFORMED', `proof line ${i + 1} is not a base64 SHA-256 hash`);
    hashes.push(h);
    if (hashes.length > TLOG_BOUNDS.proofHashes) throw new TlogError('TLOG_PROOF_MALFORMED', `proof has more than ${TLOG_BOUNDS.proofHashes} hashes`);
  }
  if (i >= lines.length) throw new TlogError('TLOG_PROOF_MALFORMED', 'proof has no empty line before the checkpoint');
  return { hashes, next: i + 1 };
}

/**
 * Splits text that starts with a signed checkpoint into that note and the
 * rest. A checkpoint body has no empty lines, so the note is: lines up to
 * the first empty line, the empty line, then the signature lines.
 */
function takeCheckpointNote(text: string): { note: string; rest: string } {
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length && lines[i] !== '') i++;
  if (i >= lines.length - 1) throw new TlogError('TLOG_PROOF_MALFORMED', 'checkpoint has no signature lines');
  i++;
  const firstSig = i;
  while (i < lines.length && lines[i].startsWith(SIG_PREFIX)) i++;
  if (i === firstSig) throw new TlogError('TLOG_PROOF_MALFORMED', 'checkpoint has no signature lines');
  if (i >= lines.length) throw new TlogError('TLOG_PROOF_MALFORMED', 'checkpoint signature line is not terminated');
  return { note: `${lines.slice(0, i).join('\n')}\n`, rest: lines.slice(i).join('\n') };
}

function checkpointOf(note: string): Checkpoint {
  return parseCheckpoint(parseNote(note).text);
}

function b64(h: Uint8Array): string {
  return Buffer.from(h).toString('base64');
}

// ---- tlog-proof -------------------------------------------------------------

export interface ProofBlock {
  index: number;
  proof: Buffer[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
  /** Opaque, unauthenticated extra data. */
  extra?: Buffer;
}

/** Formats a c2sp.org/tlog-proof@v1 block. */
export function formatProofBlock(p: { index: number; proof: readonly Uint8Array[]; checkpoint: string; extra?: Uint8Array }): string {
  if (!isSize(p.index)) throw new TlogError('TLOG_PROOF_MALFORMED', `bad index ${p.index}`);
  if (!validHashes(p.proof)) throw new TlogError('TLOG_PROOF_MALFORMED', 'proof hashes must be 32 bytes each, at most 63');
  parseNote(p.checkpoint); // refuse to wrap something that is not a signed note
  const lines = [PROOF_HEADER];
  if (p.extra !== undefined) lines.push(`extra ${b64(p.extra)}`);
  lines.push(`index ${p.index}`, ...p.proof.map(b64), '');
  return `${lines.join('\n')}\n${p.checkpoint}`;
}

/** Parses a tlog-proof block (syntax only; see verifyProofBlock). Throws TLOG_PROOF_MALFORMED. */
export function parseProofBlock(text: string): ProofBlock {
  const lines = normalize(text).split('\n');
  if (lines[0] !== PROOF_HEADER) throw new TlogError('TLOG_PROOF_MALFORMED', `proof does not start with ${PROOF_HEADER}`);
  let i = 1;
  let extra: Buffer | undefined;
  if (lines[i]?.startsWith('extra ')) {
    const e = decodeBase64Strict(lines[i].slice('extra '.length));
    if (!e) throw new TlogError('TLOG_PROOF_MALFORMED', 'proof extra data is not base64');
    extra = e;
    i++;
  }
  const m = /^index (.*)$/.exec(lines[i] ?? '');
  if (!m) throw new TlogError('TLOG_PROOF_MALFORMED', 'proof has no index line');
  const index = parseDecimal(m[1], 'proof index');
  const { hashes, next } = readHashes(lines, i + 1);
  const checkpoint = lines.slice(next).join('\n');
  const { rest } = takeCheckpointNote(checkpoint);
  if (rest !== '') throw new TlogError('TLOG_PROOF_MALFORMED', 'text follows the checkpoint signatures');
  return { index, proof: hashes, checkpoint, ...(extra ? { extra } : {}) };
}

/**
 * Finds every tlog-proof block in a larger text (a mail body, a file),
 * cutting each one after its checkpoint's signature lines. Text around the
 * blocks is ignored; each block still has to pass verifyProofBlock.
 */
export function extractProofBlocks(text: string): string[] {
  const lines = normalize(text).split('\n');
  const blocks: string[] = [];
  // A block that runs off the end is decided by the first blank line after
  // its header; a later header before that line would end the same way, so
  // it is skipped instead of scanned to the end again (that was quadratic).
  let incompleteUntil = -1;
  for (let start = 0; start < lines.length; start++) {
    if (lines[start] !== PROOF_HEADER || start < incompleteUntil) continue;
    let i = start + 1;
    while (i < lines.length && lines[i] !== '') i++; // header, extra, index, hashes
    const firstBlank = i;
    i++;
    while (i < lines.length && lines[i] !== '') i++; // checkpoint body
    i++;
    while (i < lines.length && lines[i].startsWith(SIG_PREFIX)) i++; // signatures
    if (i > lines.length) {
      incompleteUntil = firstBlank;
      continue;
    }
    blocks.push(`${lines.slice(start, i).join('\n')}\n`);
    start = i - 1;
  }
  return blocks;
}

export interface VerifyProofResult {
  ok: boolean;
  /** Empty when ok; otherwise why verification failed, for people. */
  reason: string;
  code?: TlogErrorCode;
  index: number | null;
  size: number | null;
  /** The verified checkpoint (only when the signature verified). */
  checkpoint?: Checkpoint;
  extra?: Buffer;
}

/**
 * The offline verifier: checks a tlog-proof block against the entry bytes and
 * the log's verifier key alone. Checks, in order: block syntax; checkpoint
 * signature by the key; checkpoint origin equals the key name; index below
 * the tree size; RFC 9162 inclusion of SHA-256(0x00 || entry) under the
 * checkpoint's root. Never throws on hostile input.
 */
export function verifyProofBlock(blockText: string, entry: Uint8Array, vkey: string): VerifyProofResult {
  let block: ProofBlock;
  try {
    block = parseProofBlock(blockText);
  } catch (err) {
    return { ok: false, reason: `malformed proof block: ${(err as Error).message}`, code: 'TLOG_PROOF_MALFORMED', index: null, size: null };
  }
  const cp = verifyCheckpoint(block.checkpoint, vkey);
  if (!cp.ok || !cp.checkpoint) return { ok: false, reason: cp.reason, code: cp.code, index: block.index, size: null };
  const { size, root } = cp.checkpoint;
  const base = { index: block.index, size, checkpoint: cp.checkpoint, ...(block.extra ? { extra: block.extra } : {}) };
  if (block.index >= size) {
    return { ok: false, reason: `index ${block.index} is not below the checkpoint's tree size ${size}`, code: 'TLOG_PROOF_INVALID', ...base };
  }
  if (!verifyInclusion(leafHash(entry), block.index, size, block.proof, root)) {
    return {
      ok: false,
      reason: `the entry is not included at index ${block.index} in the tree of size ${size}: proof does not lead to the signed root`,
      code: 'TLOG_PROOF_INVALID',
      ...base,
    };
  }
  return { ok: true, reason: '', ...base };
}

// ---- consistency block ------------------------------------------------------

export interface ConsistencyBlock {
  oldSize: number;
  proof: Buffer[];
  newCheckpoint: string;
  /** Null when oldSize is 0. */
  oldCheckpoint: string | null;
}

/** Formats a consistency block from the old checkpoint (null: the empty tree) to the new one. */
export function formatConsistencyBlock(oldCheckpoint: string | null, newCheckpoint: string, proof: readonly Uint8Array[]): string {
  if (!validHashes(proof)) throw new TlogError('TLOG_PROOF_MALFORMED', 'proof hashes must be 32 bytes each, at most 63');
  const oldSize = oldCheckpoint === null ? 0 : checkpointOf(oldCheckpoint).size;
  const newSize = checkpointOf(newCheckpoint).size;
  if (oldSize > newSize) throw new TlogError('TLOG_PROOF_MALFORMED', `old size ${oldSize} is beyond new size ${newSize}`);
  let out = `${[CONSISTENCY_HEADER, `old ${oldSize}`, ...proof.map(b64), ''].join('\n')}\n${newCheckpoint}`;
  if (oldCheckpoint !== null && oldSize > 0) out += `\n${oldCheckpoint}`;
  return out;
}

/** Parses a consistency block (syntax only). Throws TLOG_PROOF_MALFORMED. */
export function parseConsistencyBlock(text: string): ConsistencyBlock {
  const lines = normalize(text).split('\n');
  if (lines[0] !== CONSISTENCY_HEADER) throw new TlogError('TLOG_PROOF_MALFORMED', `block does not start with ${CONSISTENCY_HEADER}`);
  const m = /^old (.*)$/.exec(lines[1] ?? '');
  if (!m) throw new TlogError('TLOG_PROOF_MALFORMED', 'consistency block has no old line');
  const oldSize = parseDecimal(m[1], 'old size');
  const { hashes, next } = readHashes(lines, 2);
  const { note: newCheckpoint, rest } = takeCheckpointNote(lines.slice(next).join('\n'));
  let oldCheckpoint: string | null = null;
  if (rest !== '') {
    if (!rest.startsWith('\n')) throw new TlogError('TLOG_PROOF_MALFORMED', 'no empty line between the checkpoints');
    const taken = takeCheckpointNote(rest.slice(1));
    if (taken.rest !== '') throw new TlogError('TLOG_PROOF_MALFORMED', 'text follows the old checkpoint');
    oldCheckpoint = taken.note;
  }
  if (oldCheckpoint === null && oldSize !== 0) throw new TlogError('TLOG_PROOF_MALFORMED', 'consistency block lacks the old checkpoint');
  if (oldCheckpoint !== null && oldSize === 0) throw new TlogError('TLOG_PROOF_MALFORMED', 'old checkpoint given for old size 0');
  return { oldSize, proof: hashes, newCheckpoint, oldCheckpoint };
}

export interface VerifyConsistencyResult {
  ok: boolean;
  reason: string;
  code?: TlogErrorCode;
  oldSize: number | null;
  newSize: number | null;
  newCheckpoint?: Checkpoint;
  oldCheckpoint?: Checkpoint;
}

/**
 * Verifies a consistency block with the log's key: both checkpoints signed
 * by it with its origin, the `old` line equal to the old checkpoint's size,
 * and an RFC 9162 consistency proof between the two roots.
 */
export function verifyConsistencyBlock(text: string, vkey: string): VerifyConsistencyResult {
  let block: ConsistencyBlock;
  try {
    block = parseConsistencyBlock(text);
  } catch (err) {
    return { ok: false, reason: `malformed consistency block: ${(err as Error).message}`, code: 'TLOG_PROOF_MALFORMED', oldSize: null, newSize: null };
  }
  const nw = verifyCheckpoint(block.newCheckpoint, vkey);
  if (!nw.ok || !nw.checkpoint) return { ok: false, reason: `new ${nw.reason}`, code: nw.code, oldSize: block.oldSize, newSize: null };
  let oldRoot = EMPTY_ROOT;
  let old: Checkpoint | undefined;
  if (block.oldCheckpoint !== null) {
    const o = verifyCheckpoint(block.oldCheckpoint, vkey);
    if (!o.ok || !o.checkpoint) return { ok: false, reason: `old ${o.reason}`, code: o.code, oldSize: block.oldSize, newSize: nw.checkpoint.size };
    old = o.checkpoint;
    if (old.size !== block.oldSize) {
      return { ok: false, reason: `old line says ${block.oldSize} but the old checkpoint has size ${old.size}`, code: 'TLOG_PROOF_MALFORMED', oldSize: block.oldSize, newSize: nw.checkpoint.size };
    }
    oldRoot = old.root;
  }
  const base = { oldSize: block.oldSize, newSize: nw.checkpoint.size, newCheckpoint: nw.checkpoint, ...(old ? { oldCheckpoint: old } : {}) };
  if (block.oldSize > nw.checkpoint.size) {
    return { ok: false, reason: `old size ${block.oldSize} is beyond new size ${nw.checkpoint.size}`, code: 'TLOG_PROOF_INVALID', ...base };
  }
  if (!verifyConsistency(block.oldSize, nw.checkpoint.size, block.proof, oldRoot, nw.checkpoint.root)) {
    return { ok: false, reason: `the tree of size ${nw.checkpoint.size} is not an extension of the tree of size ${block.oldSize}: proof does not verify`, code: 'TLOG_PROOF_INVALID', ...base };
  }
  return { ok: true, reason: '', ...base };
}
