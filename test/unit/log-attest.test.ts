/**
 * Reading ATTEST lines: the forms sha256sum and sha512sum print (text,
 * binary, escaped names, BSD tags), and a reason for every line refused.
 * The sample sums are real: computed here with node:crypto, as sha256sum
 * would print them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { attestationEntry, digestKey, entryTime, parseAttestLines, parseSumLine, type AttestGood } from '../../src/ledger/attest.js';
import { formatEntry, parseEntry } from '../../src/tlog/index.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sha512 = (s: string) => createHash('sha512').update(s).digest('hex');
const EMPTY256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('parseSumLine', () => {
  test('text, binary, escaped and BSD-tag forms', () => {
    assert.equal(sha256(''), EMPTY256);
    assert.deepEqual(parseSumLine(`${EMPTY256}  empty.txt`), { algorithm: 'sha256', hex: EMPTY256, name: 'empty.txt' });
    assert.deepEqual(parseSumLine(`${EMPTY256} *bin/zos.xmi`), { algorithm: 'sha256', hex: EMPTY256, name: 'bin/zos.xmi' });
    assert.deepEqual(parseSumLine(`${EMPTY256.toUpperCase()}  UP.TXT`), { algorithm: 'sha256', hex: EMPTY256, name: 'UP.TXT' }, 'hex is normalised to lower case');
    assert.deepEqual(parseSumLine(`${EMPTY256}   leading space`), { algorithm: 'sha256', hex: EMPTY256, name: ' leading space' }, 'the name is kept exactly');
    assert.deepEqual(parseSumLine(`\\${EMPTY256}  back\\\\slash`), { algorithm: 'sha256', hex: EMPTY256, name: 'back\\slash' });
    assert.deepEqual(parseSumLine(`SHA256 (tagged.bin) = ${EMPTY256}`), { algorithm: 'sha256', hex: EMPTY256, name: 'tagged.bin' });
    const h512 = sha512('x');
    assert.deepEqual(parseSumLine(`SHA512 (big.iso) = ${h512}`), { algorithm: 'sha512', hex: h512, name: 'big.iso' });
    assert.deepEqual(parseSumLine(`${h512}  big.iso`), { algorithm: 'sha512', hex: h512, name: 'big.iso' });
    assert.deepEqual(parseSumLine(`${EMPTY256}  Übersicht – ü.pdf`), { algorithm: 'sha256', hex: EMPTY256, name: 'Übersicht – ü.pdf' });
  });

  test('refusals say why', () => {
    assert.match(parseSumLine('hello world') as string, /not a line of the form/);
    assert.match(parseSumLine(`${EMPTY256}\tfile`) as string, /not a line of the form/);
    assert.match(parseSumLine(`${'c'.repeat(40)}  sha1.txt`) as string, /this one has 40 \(that is SHA-1, which is not accepted\)/);
    assert.match(parseSumLine(`${'c'.repeat(32)}  md5.txt`) as string, /MD5, which is not accepted/);
    assert.match(parseSumLine(`${'g'.repeat(64)}  x`) as string, /not hexadecimal/);
    assert.match(parseSumLine(`${EMPTY256}  `) as string, /name is empty/);
    assert.match(parseSumLine(`\\${EMPTY256}  two\\nlines`) as string, /control character or line break/);
    assert.match(parseSumLine(`\\${EMPTY256}  bad\\tescape`) as string, /unknown escape/);
    assert.match(parseSumLine(`${EMPTY256}  bell\u0007`) as string, /control character/);
    assert.match(parseSumLine(`${EMPTY256}  ${'n'.repeat(513)}`) as string, /longer than 512/);
    assert.match(parseSumLine(`SHA512 (x) = ${EMPTY256}`) as string, /SHA512 digest must have 128 hex digits/);
  });
});

describe('parseAttestLines', () => {
  const good = (l: ReturnType<typeof parseAttestLines>['lines'][number]): l is AttestGood => l.ok;

  test('line numbers in the signed text; blank and quoted lines skipped; stops at a signature separator, end or armour', () => {
    const text = [`${sha256('a')}  a.tar`, '', '> quoted reply', `${sha256('b')} *b.bin`, 'garbage', '-- ', `${sha256('c')}  after-sig`].join('\n');
    const p = parseAttestLines(text, 2, 1000);
    assert.deepEqual(p.lines.map((l) => [l.line, l.ok]), [[2, true], [5, true], [6, false]]);
    assert.equal(p.overLimit, null);
    assert.deepEqual(p.lines.filter(good).map((l) => l.subject), [`sha256:${sha256('a')}`, `sha256:${sha256('b')}`]);
    assert.equal(parseAttestLines(`${sha256('a')}  a\nEND\n${sha256('b')}  b`, 1, 10).lines.length, 1);
    assert.equal(parseAttestLines(`${sha256('a')}  a\n-----BEGIN PGP SIGNATURE-----\n${sha256('b')}  b`, 1, 10).lines.length, 1);
    assert.deepEqual(parseAttestLines('\r\n\r\n', 1, 10).lines, []);
  });

  test('a repeated digest and name is refused once, naming the first line; the same digest under another name is fine', () => {
    const h = sha256('same');
    const p = parseAttestLines(`${h}  one\n${h}  two\n${h} *one`, 2, 10);
    assert.deepEqual(p.lines.map((l) => (l.ok ? 'ok' : l.reason)), ['ok', 'ok', 'the same digest and name as line 2']);
  });

  test('lines past the limit are refused together, as a range', () => {
    const lines = Array.from({ length: 7 }, (_, i) => `${sha256(String(i))}  f${i}`).join('\n');
    const p = parseAttestLines(lines, 2, 4);
    assert.equal(p.lines.length, 4);
    assert.deepEqual(p.overLimit, { first: 6, last: 8, count: 3 });
  });
});

describe('log entries and lookup keys', () => {
  test('an attestation entry is canonical and round-trips, whatever the name', () => {
    const p = parseAttestLines(`${EMPTY256}  weird name %41 ü`, 2, 10);
    const l = p.lines[0] as AttestGood;
    const e = attestationEntry(l, 'A'.repeat(40), new Date('2025-05-06T07:08:09.999Z'), 'f'.repeat(64));
    assert.equal(e.time, '2025-05-06T07:08:09Z');
    const bytes = formatEntry(e);
    assert.deepEqual(parseEntry(bytes), e);
    assert.match(bytes.toString(), /^name: weird%20name%20%2541%20%C3%BC$/m);
    assert.equal(entryTime(new Date(0)), '1970-01-01T00:00:00Z');
  });

  test('digestKey takes bare or prefixed hex of the right length only', () => {
    assert.equal(digestKey(EMPTY256), `sha256:${EMPTY256}`);
    assert.equal(digestKey(`SHA256:${EMPTY256.toUpperCase()}`), `sha256:${EMPTY256}`);
    assert.equal(digestKey(sha512('')), `sha512:${sha512('')}`);
    assert.equal(digestKey(`sha512:${EMPTY256}`), null);
    assert.equal(digestKey('c'.repeat(40)), null);
    assert.equal(digestKey('xyz'), null);
    assert.equal(digestKey(undefined), null);
  });
});
