/**
 * Fuzzing the transparency-log readers that take bytes from outside: the
 * entry decoder (entries come back from tiles a mirror served), the
 * entry-bundle and hash-tile decoders and the tile-path parser. Each input
 * returns or throws TlogError/LimitError, quickly; a valid entry survives
 * encode then decode unchanged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ENTRY_HEADER, ENTRY_TYPES, formatEntry, parseEntry, type LogEntry } from '../../src/tlog/entry.js';
import { decodeEntryBundle, decodeTile, encodeEntryBundle, encodeTile, parseTilePath } from '../../src/tlog/tiles.js';
import { fragments, fuzz } from './fuzz-bound.js';

const FIELDS = [`${ENTRY_HEADER}\n`, 'type: ', 'subject: ', 'name: ', 'signers:', 'signers: ', 'ticket: ', 'approvers: ', 'time: ',
  'source: ', '2025-01-31T12:00:00Z', '\n', ' ', '%', '%41', '%C3%A9', '%ZZ', 'a'.repeat(64), ...ENTRY_TYPES];

const value = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });
const entryArb: fc.Arbitrary<LogEntry> = fc.record({
  type: fc.constantFrom(...ENTRY_TYPES),
  subject: value,
  name: fc.option(value, { nil: undefined }),
  signers: fc.array(value, { maxLength: 4 }),
  ticket: fc.option(value, { nil: undefined }),
  approvers: fc.option(fc.array(value, { minLength: 1, maxLength: 4 }), { nil: undefined }),
  time: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
    .map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')),
  source: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
}).map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as LogEntry);

test('parseEntry: random and structured bytes return or throw a typed error, each quickly', async () => {
  await fuzz(fc.uint8Array({ maxLength: 300 }), (b) => parseEntry(b));
  const threw = await fuzz(fragments(FIELDS), (s) => parseEntry(Buffer.from(s, 'latin1')));
  assert.ok(threw > 0);
});

test('parseEntry: a mutated valid entry returns or throws a typed error; a valid one round-trips', async () => {
  await fuzz(fc.tuple(entryArb, fc.nat(), fc.integer({ min: 0, max: 255 })), ([e, at, byte]) => {
    const bytes = formatEntry(e);
    assert.deepEqual(parseEntry(bytes), e);
    const mutated = Buffer.from(bytes);
    mutated[at % mutated.length] = byte;
    const back = (() => { try { return parseEntry(mutated); } catch { return null; } })();
    // Canonical form: what does parse must format back to exactly those bytes.
    if (back) assert.ok(formatEntry(back).equals(mutated));
    return parseEntry(mutated);
  });
});

test('entry bundles and hash tiles: random bytes return or throw a typed error; encode then decode gives them back', async () => {
  await fuzz(fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.option(fc.integer({ min: -1, max: 300 }), { nil: undefined })),
    ([b, n]) => decodeEntryBundle(Buffer.from(b), n));
  await fuzz(fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: -1, max: 300 })), ([b, w]) => decodeTile(Buffer.from(b), w));
  await fuzz(fc.array(fc.uint8Array({ maxLength: 100 }), { minLength: 1, maxLength: 20 }), (entries) => {
    const back = decodeEntryBundle(encodeEntryBundle(entries), entries.length);
    assert.deepEqual(back.map((x) => [...x]), entries.map((x) => [...x]));
  });
  await fuzz(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 256 }), (hs) => {
    const bufs = hs.map((h) => Buffer.from(h));
    assert.deepEqual(decodeTile(encodeTile(bufs), bufs.length), bufs);
  });
});

test('parseTilePath: random paths return or throw a typed error', async () => {
  await fuzz(fragments(['tile/', 'entries/', '0/', '1/', '8/', 'x', '000/', '.p/', '255', '/', '.p', 'x001/', '1000', '999/', '-1']), (p) => parseTilePath(p));
});
