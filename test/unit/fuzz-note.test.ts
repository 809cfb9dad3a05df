/**
 * Fuzzing the signed-note readers (c2sp.org/signed-note) the bot and its
 * users run on text from outside: parseNote, verifyNote, the checkpoint
 * parser and verifyCheckpoint, the verifier-key parser and the proof-block
 * parsers. Each input returns or throws TlogError, quickly; verifyNote and
 * verifyCheckpoint never throw. A note signed then verified gives its text
 * back, and any change to a signed note is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatCheckpoint, parseCheckpoint, verifyCheckpoint } from '../../src/tlog/checkpoint.js';
import { generateLogKey, parseNote, parseSignerKey, parseVerifierKey, SIG_PREFIX, signNote, verifyNote } from '../../src/tlog/note.js';
import { CONSISTENCY_HEADER, extractProofBlocks, parseConsistencyBlock, parseProofBlock, PROOF_HEADER } from '../../src/tlog/proof.js';
import { fragments, fuzz } from './fuzz-bound.js';

const { skey, vkey } = generateLogKey('log.ztrust.test');
const other = generateLogKey('log.ztrust.test');
const signer = parseSignerKey(skey);
const sigLine = signNote('x\n', signer).split('\n').slice(-2)[0];
const NOTE_PIECES = ['\n', '\n\n', SIG_PREFIX, 'log.ztrust.test ', 'log.ztrust.test', sigLine, `${sigLine}\n`, 'AAAA', '====', '+', ' ',
  '\u2014', '\u00e9', '\r', '\t', '1\n', 'x'];

// eslint-disable-next-line no-control-regex -- the generator leaves out control characters, which the note format refuses
const noteText = fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((l) => !/[\x00-\x1f]/.test(l)), { minLength: 1, maxLength: 5 })
  .map((ls) => `${ls.join('\n')}\n`);

test('parseNote and verifyNote: hostile notes return or throw TlogError; verifyNote never throws', async () => {
  const notes = fc.oneof(fragments(NOTE_PIECES), fc.string({ unit: 'binary', maxLength: 200 }));
  await fuzz(notes, (s) => parseNote(s));
  await fuzz(fc.uint8Array({ maxLength: 200 }), (b) => parseNote(b));
  await fuzz(notes, (s) => assert.equal(verifyNote(s, vkey).ok, false), () => false);
});

test('a note signed then verified gives its text back; any one-character change is refused', async () => {
  await fuzz(fc.tuple(noteText, fc.nat(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), ([text, at, ch]) => {
    const note = signNote(text, signer);
    const v = verifyNote(note, vkey);
    assert.deepEqual([v.ok, v.text, v.verifiedBy], [true, text, ['log.ztrust.test']]);
    assert.equal(verifyNote(note, other.vkey).ok, false, 'another key of the same name');
    const i = at % text.length;
    if (text[i] === ch) return;
    const changed = note.slice(0, i) + ch + note.slice(i + 1);
    assert.equal(verifyNote(changed, vkey).ok, false, JSON.stringify(changed));
  }, () => false);
});

test('checkpoints: hostile text returns or throws TlogError; formatted then parsed gives them back; verifyCheckpoint never throws', async () => {
  await fuzz(fragments(['log.ztrust.test\n', '0\n', '1\n', '01\n', '18446744073709551616\n', `${Buffer.alloc(32).toString('base64')}\n`, '\n', 'x', ' ', '\x7f']),
    (s) => parseCheckpoint(s));
  const cp = fc.record({
    // eslint-disable-next-line no-control-regex -- the generator leaves out control characters, which the note format refuses
    origin: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s)),
    size: fc.maxSafeNat(),
    root: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
    // eslint-disable-next-line no-control-regex -- the generator leaves out control characters, which the note format refuses
    extensions: fc.array(fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s)), { maxLength: 2 }),
  });
  await fuzz(cp, (c) => {
    assert.deepEqual(parseCheckpoint(formatCheckpoint(c)), { ...c });
    const signed = signNote(formatCheckpoint({ ...c, origin: 'log.ztrust.test' }), signer);
    assert.equal(verifyCheckpoint(signed, vkey).ok, true);
  });
  await fuzz(fragments([...NOTE_PIECES, '0\n', `${Buffer.alloc(32).toString('base64')}\n`]), (s) => assert.equal(verifyCheckpoint(s, vkey).ok, false), () => false);
});

test('verifier keys and proof blocks: hostile text returns or throws TlogError', async () => {
  await fuzz(fragments(['log.ztrust.test', '+', '0', 'deadbeef', 'AQ', 'AAAA', '=', vkey, vkey.slice(0, -3), 'PRIVATE+KEY+']), (s) => parseVerifierKey(s));
  const pieces = [`${PROOF_HEADER}\n`, `${CONSISTENCY_HEADER}\n`, 'index 0\n', 'index 18446744073709551616\n', 'old 1\n', 'extra AA==\n',
    `${Buffer.alloc(32).toString('base64')}\n`, signNote(formatCheckpoint({ origin: 'log.ztrust.test', size: 1, root: Buffer.alloc(32) }), signer), ...NOTE_PIECES];
  await fuzz(fragments(pieces, 20), (s) => parseProofBlock(s));
  await fuzz(fragments(pieces, 20), (s) => parseConsistencyBlock(s));
  await fuzz(fragments(pieces, 40), (s) => {
    for (const b of extractProofBlocks(s)) assert.ok(b.startsWith(PROOF_HEADER));
  }, () => false);
});
