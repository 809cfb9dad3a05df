/** The canonical log entry record: deterministic, ASCII, injection-proof, at most 64 KiB. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LimitError } from '../../src/limits.js';
import { formatEntry, parseEntry, TlogError, type LogEntry } from '../../src/tlog/index.js';

const SOURCE = 'ab'.repeat(32);
const FPR = 'D4AB192964F76A7F8F8A9B357BD18320DEADE832';

const base: LogEntry = {
  type: 'attestation',
  subject: `sha256:${'0f'.repeat(32)}`,
  name: 'zlinux-tools-1.2.tar.gz',
  signers: [FPR, 'A'.repeat(40)],
  ticket: 'T-42',
  approvers: ['B'.repeat(40)],
  time: '2025-01-31T12:00:00Z',
  source: SOURCE,
};

const invalid = (err: unknown) => err instanceof TlogError && err.code === 'TLOG_ENTRY_INVALID';

test('format is the documented fixed-order text, and parse inverts it', () => {
  const buf = formatEntry(base);
  assert.equal(
    buf.toString('ascii'),
    [
      'ztrust-log-entry v1',
      'type: attestation',
      `subject: sha256:${'0f'.repeat(32)}`,
      'name: zlinux-tools-1.2.tar.gz',
      `signers: ${FPR} ${'A'.repeat(40)}`,
      'ticket: T-42',
      `approvers: ${'B'.repeat(40)}`,
      'time: 2025-01-31T12:00:00Z',
      `source: ${SOURCE}`,
      '',
    ].join('\n'),
  );
  assert.deepEqual(parseEntry(buf), base);
  // Key order of the input object does not matter: the output is canonical.
  const shuffled = { source: SOURCE, time: base.time, approvers: base.approvers, ticket: 'T-42', signers: base.signers, name: base.name, subject: base.subject, type: base.type } as LogEntry;
  assert.ok(formatEntry(shuffled).equals(buf));
});

test('optional fields are omitted, empty signers is "signers:"', () => {
  const minimal: LogEntry = { type: 'key-removed', subject: FPR, signers: [], time: '2025-01-31T12:00:00Z', source: SOURCE };
  const text = formatEntry(minimal).toString('ascii');
  assert.equal(text, `ztrust-log-entry v1\ntype: key-removed\nsubject: ${FPR}\nsigners:\ntime: 2025-01-31T12:00:00Z\nsource: ${SOURCE}\n`);
  assert.deepEqual(parseEntry(Buffer.from(text)), minimal);
  assert.ok(formatEntry({ ...minimal, approvers: [] }).equals(formatEntry(minimal)), 'no approvers line for an empty list');
});

test('hostile names cannot inject lines or split lists; the original text round-trips', () => {
  const hostile = 'x.tar.gz\nsource: ' + '00'.repeat(32) + '\r\ntype: key-added %41 Ünïcödé 名前 \u2028 end ';
  const e: LogEntry = { ...base, name: hostile, signers: ['has space', 'ok'], ticket: '%' };
  const buf = formatEntry(e);
  const text = buf.toString('ascii');
  for (const b of buf) assert.ok(b === 0x0a || (b >= 0x20 && b <= 0x7e), 'printable ASCII only');
  assert.equal(text.split('\n').length, 10, 'still exactly nine lines');
  assert.match(text, /^name: x\.tar\.gz%0Asource:%2000/m);
  assert.match(text, /^signers: has%20space ok$/m);
  assert.match(text, /^ticket: %25$/m);
  assert.deepEqual(parseEntry(buf), e);
  assert.throws(() => formatEntry({ ...base, name: '\ud800' }), invalid, 'lone surrogate');
});

test('parse refuses everything that is not the canonical encoding', () => {
  const good = formatEntry(base).toString('ascii');
  const variants: Array<[string, string]> = [
    ['reordered fields', good.replace(/^(name: .*)\n(subject: .*)$/m, '$2\n$1').replace(/^(subject: .*)\n(name: .*)$/m, '$2\n$1')],
    ['CRLF', good.replace(/\n/g, '\r\n')],
    ['trailing space', good.replace('ticket: T-42', 'ticket: T-42 ')],
    ['lowercase escape', formatEntry({ ...base, name: 'a b' }).toString('ascii').replace('%20', '%2a')],
    ['needless escape', good.replace('ticket: T-42', 'ticket: T%2D42')],
    ['duplicate field', good.replace('ticket: T-42\n', 'ticket: T-42\nticket: T-43\n')],
    ['unknown field', good.replace('ticket: T-42\n', 'ticket: T-42\nnote: hi\n')],
    ['missing field', good.replace(/^time: .*\n/m, '')],
    ['blank line', good.replace('ticket: T-42\n', 'ticket: T-42\n\n')],
    ['no final newline', good.slice(0, -1)],
    ['other version', good.replace('v1', 'v2')],
    ['double space in list', good.replace(`${FPR} `, `${FPR}  `)],
    ['bad type', good.replace('type: attestation', 'type: promotion')],
    ['non-ASCII byte', good.replace('T-42', 'T-4\u00e9')],
    ['percent-encoded invalid UTF-8', good.replace('ticket: T-42', 'ticket: %FF')],
  ];
  for (const [what, text] of variants) {
    assert.notEqual(text, good, `${what}: the variant must differ`);
    assert.throws(() => parseEntry(Buffer.from(text, 'latin1')), invalid, what);
  }
});

test('field validation: type, time (RFC 3339 UTC seconds, real instants), source, non-empty values', () => {
  for (const time of ['2025-02-30T00:00:00Z', '2025-01-31T12:00:00.5Z', '2025-01-31T12:00:00+01:00', '2025-01-31 12:00:00Z', '2025-13-01T00:00:00Z', '2025-01-31T24:00:00Z']) {
    assert.throws(() => formatEntry({ ...base, time }), invalid, time);
  }
  assert.doesNotThrow(() => formatEntry({ ...base, time: '2024-02-29T23:59:59Z' }));
  for (const source of ['AB'.repeat(32), 'ab'.repeat(31), 'zz'.repeat(32)]) assert.throws(() => formatEntry({ ...base, source }), invalid);
  assert.throws(() => formatEntry({ ...base, type: 'bogus' as LogEntry['type'] }), invalid);
  assert.throws(() => formatEntry({ ...base, subject: '' }), invalid);
  assert.throws(() => formatEntry({ ...base, name: '' }), invalid);
  assert.throws(() => formatEntry({ ...base, signers: [''] }), invalid);
  assert.throws(() => formatEntry({ ...base, signers: 'x' as unknown as string[] }), invalid);
});

test('entries over 64 KiB are LimitError LIMIT_LOG_ENTRY', () => {
  const big = { ...base, name: 'n'.repeat(65535) };
  assert.throws(
    () => formatEntry(big),
    (err: unknown) => err instanceof LimitError && err.code === 'LIMIT_LOG_ENTRY' && err.limit === 65535 && err.actual > 65535,
  );
  // Escaping triples a byte: the limit applies to the encoded record.
  assert.throws(() => formatEntry({ ...base, name: '\n'.repeat(22000) }), LimitError);
  assert.throws(() => parseEntry(Buffer.alloc(65536, 0x61)), LimitError);
  const fits = formatEntry({ ...base, name: 'n'.repeat(65000) });
  assert.ok(fits.length <= 65535);
});
