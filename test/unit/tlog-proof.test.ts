/**
 * The offline verifier: C2SP tlog-proof blocks and our consistency blocks,
 * built by the log and checked with nothing but the log's verifier key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  extractProofBlocks,
  formatCheckpoint,
  formatConsistencyBlock,
  formatProofBlock,
  generateLogKey,
  parseConsistencyBlock,
  parseNote,
  parseProofBlock,
  signNote,
  TlogError,
  TransparencyLog,
  verifyConsistencyBlock,
  verifyProofBlock,
} from '../../src/tlog/index.js';

const ORIGIN = 'log.ztrust.example';

async function withLog(t: { after: (fn: () => Promise<void>) => void }, n: number) {
  const dir = await mkdtemp(join(tmpdir(), 'ztrust-tlog-proof-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keys = generateLogKey(ORIGIN);
  const log = await TransparencyLog.open(dir, { origin: ORIGIN, signer: keys.skey });
  t.after(() => log.close());
  const entries = Array.from({ length: n }, (_, i) => Buffer.from(`ztrust-log-entry v1\ntype: attestation\nsubject: sha256:${String(i).padStart(64, '0')}\n`));
  const checkpoints: string[] = [log.checkpoint()];
  for (let i = 0; i < n; i += 7) checkpoints.push((await log.append(entries.slice(i, i + 7))).checkpoint);
  return { log, keys, entries, checkpoints };
}

test('a proof block from the log has the tlog-proof layout and verifies offline', async (t) => {
  const { log, keys, entries } = await withLog(t, 20);
  const block = await log.proofBlock(13);
  const lines = block.split('\n');
  assert.equal(lines[0], 'c2sp.org/tlog-proof@v1');
  assert.equal(lines[1], 'index 13');
  const blank = lines.indexOf('');
  assert.equal(blank, 2 + 5, 'five proof hashes for index 13 of 20');
  assert.equal(block.slice(block.indexOf('\n\n') + 2), log.checkpoint(), 'the checkpoint is included verbatim');
  const r = verifyProofBlock(block, entries[13], keys.vkey);
  assert.deepEqual([r.ok, r.reason, r.index, r.size], [true, '', 13, 20]);
  assert.equal(r.checkpoint?.origin, ORIGIN);
  // Parse and format are inverse.
  const parsed = parseProofBlock(block);
  assert.equal(formatProofBlock(parsed), block);
  // Extra data round-trips and is not authenticated.
  const withExtra = await log.proofBlock(13, Buffer.from('unauthenticated context'));
  assert.match(withExtra, /^c2sp\.org\/tlog-proof@v1\nextra dW5hdXRoZW50aWNhdGVkIGNvbnRleHQ=\nindex 13\n/);
  assert.equal(verifyProofBlock(withExtra, entries[13], keys.vkey).extra?.toString(), 'unauthenticated context');
  // Extra signatures on the checkpoint (witness cosignatures, a rotated key)
  // are ignored as long as the log's own signature verifies.
  const witness = generateLogKey('witness.example');
  const cosigned = block + signNote(parseNote(log.checkpoint()).text, witness.skey).split('\n\n')[1];
  assert.equal(parseNote(parseProofBlock(cosigned).checkpoint).signatures.length, 2);
  assert.equal(verifyProofBlock(cosigned, entries[13], keys.vkey).ok, true);
  // CRLF line ends (mail transport) are accepted.
  assert.equal(verifyProofBlock(block.replace(/\n/g, '\r\n'), entries[13], keys.vkey).ok, true);
});

test('every single flipped bit in a proof block or its entry makes verification fail with a reason', async (t) => {
  const { log, keys, entries } = await withLog(t, 20);
  const block = await log.proofBlock(5);
  let failures = 0;
  for (let i = 0; i < block.length; i++) {
    const flipped = block.slice(0, i) + String.fromCharCode(block.charCodeAt(i) ^ 1) + block.slice(i + 1);
    const r = verifyProofBlock(flipped, entries[5], keys.vkey);
    assert.equal(r.ok, false, `bit flip at ${i} (${JSON.stringify(block[i])}) accepted`);
    assert.ok(r.reason.length > 0 && r.code, `no reason for flip at ${i}`);
    failures++;
  }
  assert.equal(failures, block.length);
  for (let i = 0; i < entries[5].length; i++) {
    const e = Buffer.from(entries[5]);
    e[i] ^= 0x20;
    const r = verifyProofBlock(block, e, keys.vkey);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'TLOG_PROOF_INVALID');
    assert.match(r.reason, /not included at index 5/);
  }
  const other = verifyProofBlock(block, entries[6], keys.vkey);
  assert.equal(other.ok, false, 'another entry of the same log');
});

test('verifyProofBlock names the failing check', async (t) => {
  const { log, keys, entries } = await withLog(t, 20);
  const block = await log.proofBlock(3);
  const cases: Array<[string, string, RegExp, string]> = [
    ['wrong key', generateLogKey(ORIGIN).vkey, /no signature by a trusted key/, 'TLOG_NOTE_SIGNATURE'],
    ['malformed key', 'not a key', /bad log key/, 'TLOG_KEY_INVALID'],
  ];
  for (const [what, vkey, reason, code] of cases) {
    const r = verifyProofBlock(block, entries[3], vkey);
    assert.equal(r.ok, false, what);
    assert.match(r.reason, reason, what);
    assert.equal(r.code, code, what);
  }
  const shifted = block.replace('index 3\n', 'index 2\n');
  assert.equal(verifyProofBlock(shifted, entries[3], keys.vkey).code, 'TLOG_PROOF_INVALID');
  const beyond = block.replace('index 3\n', 'index 20\n');
  assert.match(verifyProofBlock(beyond, entries[3], keys.vkey).reason, /not below the checkpoint's tree size 20/);
  // A checkpoint signed by the right key for another origin.
  const foreign = signNote(formatCheckpoint({ origin: 'other.example', size: 20, root: Buffer.alloc(32) }), keys.skey);
  const r = verifyProofBlock(block.slice(0, block.indexOf('\n\n') + 2) + foreign, entries[3], keys.vkey);
  assert.equal(r.code, 'TLOG_ORIGIN');
  for (const [what, text] of [
    ['no header', block.replace('c2sp.org/tlog-proof@v1\n', '')],
    ['other version', block.replace('@v1', '@v2')],
    ['leading zero index', block.replace('index 3\n', 'index 03\n')],
    ['no index', block.replace('index 3\n', '')],
    ['bad hash line', block.replace(/\n([A-Za-z0-9+/]{43}=)\n/, '\nnot base64!\n')],
    ['short hash', block.replace(/\n([A-Za-z0-9+/]{43}=)\n/, '\nAAAA\n')],
    ['no blank line', block.replace('\n\n', '\n')],
    ['trailing text', `${block}more text\n`],
    ['no final newline', block.slice(0, -1)],
    ['extra not base64', block.replace('index 3\n', 'extra !!\nindex 3\n')],
    ['64 hashes', block.replace('index 3\n', `index 3\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(64)}`)],
  ] as const) {
    const res = verifyProofBlock(text, entries[3], keys.vkey);
    assert.equal(res.ok, false, what);
    assert.equal(res.code, 'TLOG_PROOF_MALFORMED', `${what}: ${res.reason}`);
    assert.throws(() => parseProofBlock(text), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_PROOF_MALFORMED', what);
  }
});

test('proof blocks are found inside a mail body', async (t) => {
  const { log, keys, entries } = await withLog(t, 10);
  const a = await log.proofBlock(1);
  const b = await log.proofBlock(8);
  const body = `Hello,\r\n\r\nyour digest is in the log:\r\n\r\n${a.replace(/\n/g, '\r\n')}\r\nand another:\r\n${b}-- \nztrust-bot\n`;
  const found = extractProofBlocks(body);
  assert.deepEqual(found, [a, b]);
  assert.equal(verifyProofBlock(found[0], entries[1], keys.vkey).ok, true);
  assert.equal(verifyProofBlock(found[1], entries[8], keys.vkey).ok, true);
  assert.deepEqual(extractProofBlocks('nothing here\n'), []);
});

test('consistency blocks between checkpoints verify offline, including from size 0', async (t) => {
  const { log, keys, checkpoints } = await withLog(t, 50);
  const [empty, seven, , twentyOne] = checkpoints;
  const block = await log.consistencyBlock(seven);
  assert.match(block, /^ztrust-bot\/tlog-consistency@v1\nold 7\n/);
  // The middle is a tlog-witness add-checkpoint request body.
  const witnessBody = block.slice(block.indexOf('\n') + 1, block.indexOf(log.checkpoint()) + log.checkpoint().length);
  assert.match(witnessBody, /^old 7\n(?:[A-Za-z0-9+/]{43}=\n)+\nlog\.ztrust\.example\n50\n/);
  assert.ok(block.endsWith(`\n${seven}`));
  const r = verifyConsistencyBlock(block, keys.vkey);
  assert.deepEqual([r.ok, r.reason, r.oldSize, r.newSize], [true, '', 7, 50]);
  const parsed = parseConsistencyBlock(block);
  assert.equal(formatConsistencyBlock(parsed.oldCheckpoint, parsed.newCheckpoint, parsed.proof), block);

  // From the empty tree: no proof hashes and no old checkpoint.
  for (const old of [null, empty]) {
    const zero = await log.consistencyBlock(old);
    assert.equal(zero, `ztrust-bot/tlog-consistency@v1\nold 0\n\n${log.checkpoint()}`);
    assert.deepEqual(verifyConsistencyBlock(zero, keys.vkey).ok, true);
  }
  // Same size: empty proof, equal roots.
  const same = formatConsistencyBlock(log.checkpoint(), log.checkpoint(), []);
  assert.equal(verifyConsistencyBlock(same, keys.vkey).ok, true);

  // Tampering and mismatches.
  for (let i = 0; i < block.length; i += 3) {
    const flipped = block.slice(0, i) + String.fromCharCode(block.charCodeAt(i) ^ 1) + block.slice(i + 1);
    assert.equal(verifyConsistencyBlock(flipped, keys.vkey).ok, false, `flip at ${i}`);
  }
  const wrongOld = formatConsistencyBlock(twentyOne, log.checkpoint(), parsed.proof);
  assert.equal(verifyConsistencyBlock(wrongOld, keys.vkey).code, 'TLOG_PROOF_INVALID');
  const lyingOldLine = block.replace('old 7\n', 'old 8\n');
  assert.match(verifyConsistencyBlock(lyingOldLine, keys.vkey).reason, /old line says 8/);
  assert.throws(() => formatConsistencyBlock(log.checkpoint(), seven, []), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_PROOF_MALFORMED');
  // A checkpoint from another log (another key) is not accepted as the old one.
  const stranger = generateLogKey(ORIGIN);
  const foreignOld = signNote(formatCheckpoint({ origin: ORIGIN, size: 7, root: Buffer.alloc(32, 1) }), stranger.skey);
  assert.equal(verifyConsistencyBlock(formatConsistencyBlock(foreignOld, log.checkpoint(), parsed.proof), keys.vkey).ok, false);
  // A fork: a size-7 checkpoint signed by the log's own key but with another
  // root. The log refuses to build a proof from it, and no proof verifies.
  const fork = signNote(formatCheckpoint({ origin: ORIGIN, size: 7, root: Buffer.alloc(32, 2) }), keys.skey);
  await assert.rejects(log.consistencyBlock(fork), (err: unknown) => err instanceof TlogError && err.code === 'TLOG_PROOF_INVALID');
  const forged = verifyConsistencyBlock(formatConsistencyBlock(fork, log.checkpoint(), parsed.proof), keys.vkey);
  assert.equal(forged.ok, false);
  assert.match(forged.reason, /not an extension/);
  // Structure errors.
  for (const text of [block.replace('old 7\n', ''), block.replace('old 7\n', 'old 07\n'), `${block}\n`, block.slice(0, block.lastIndexOf(seven))]) {
    assert.equal(verifyConsistencyBlock(text, keys.vkey).code, 'TLOG_PROOF_MALFORMED');
  }
});
