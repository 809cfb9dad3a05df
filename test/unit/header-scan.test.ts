/**
 * The header scans that run on every message (rawMessageId in
 * src/store/keys.ts, headerFields in src/commands/triage.ts, headerSection
 * in src/mail/classify.ts) were rewritten for speed: they look for line
 * ends with indexOf instead of splitting on a pattern. Each must give what
 * the plain pattern-based reading (kept here as the specification) gives,
 * on any bytes: fast-check builds messages from the characters that matter
 * (CR and LF alone and together, blanks, colons, NBSP, names and values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rawMessageId } from '../../src/store/keys.js';
import { headerFields, headerSectionEnd } from '../../src/commands/triage.js';
import { headerSection } from '../../src/mail/classify.js';
import { MAX_HEADER_SECTION_BYTES, MESSAGE_BOUNDS } from '../../src/limits.js';

/** The specification of rawMessageId: the header section up to the first /\r?\n\r?\n/, unfolded, then the pattern. */
function messageIdSpec(raw: Buffer): string | null {
  const head = raw.subarray(0, Math.min(raw.length, MAX_HEADER_SECTION_BYTES)).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const headers = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^message-id:\\s*(<[^>\\r\\n]{1,${MESSAGE_BOUNDS.messageIdChars}}>)`, 'im').exec(headers);
  return m ? m[1] : null;
}

/** The specification of headerFields: the same header section, split on /\r?\n/, one pattern per line. */
function headerFieldsSpec(raw: Buffer): { fields: Map<string, string[]>; bodyStart: number } | null {
  const section = headerSectionEnd(raw);
  if (!section) return null;
  const { end, bodyStart } = section;
  const fields = new Map<string, string[]>();
  let last: string[] | null = null;
  for (const line of raw.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) {
      if (!last) return null;
      last[last.length - 1] += ` ${line.trim()}`;
      continue;
    }
    const m = /^([\x21-\x39\x3b-\x7e]+):(.*)$/.exec(line);
    if (!m) return null;
    const name = m[1].toLowerCase();
    last = fields.get(name) ?? [];
    last.push(m[2].trim());
    fields.set(name, last);
  }
  return { fields, bodyStart };
}

const piece = fc.constantFrom('\r', '\n', '\r\n', '\n\r\n', ' ', '\t', ':', ': ', 'Message-ID', 'message-id:', '<a@b.example>', '<x',
  '>', 'List-Id', 'Content-Type: text/plain', 'a', 'Z9', '\u00a0', '\u00e9', '\x7f', '\x00', 'V: 1\r\n', ' folded\r\n', '\r\n\r\nbody');
const bytes = fc.array(piece, { maxLength: 40 }).map((xs) => Buffer.from(xs.join(''), 'latin1'));

test('rawMessageId reads what the pattern-based reading reads, on any bytes', () => {
  fc.assert(fc.property(bytes, (raw) => {
    assert.equal(rawMessageId(raw), messageIdSpec(raw), JSON.stringify(raw.toString('latin1')));
  }), { numRuns: 20_000 });
  // Past the header section's bound: only its first MAX_HEADER_SECTION_BYTES count.
  const long = Buffer.from(`X: ${'a'.repeat(MAX_HEADER_SECTION_BYTES)}\r\nMessage-ID: <late@example>\r\n\r\n`, 'latin1');
  assert.equal(rawMessageId(long), null);
  assert.equal(messageIdSpec(long), null);
  const edge = Buffer.from(`Message-ID: <m@example>\r\n${'X: y\r\n'.repeat(1000)}`.padEnd(MAX_HEADER_SECTION_BYTES - 1, 'z').concat('\n\nbody'), 'latin1');
  assert.equal(rawMessageId(edge), messageIdSpec(edge));
  assert.equal(rawMessageId(Buffer.from('Subject: x\r\nMessage-ID:\r\n  <folded@example>\r\n\r\n')), '<folded@example>');
});

test('headerFields reads what the pattern-based reading reads, on any bytes', () => {
  fc.assert(fc.property(bytes, (raw) => {
    assert.deepEqual(headerFields(raw), headerFieldsSpec(raw), JSON.stringify(raw.toString('latin1')));
  }), { numRuns: 20_000 });
  // A CR with no LF after it, at the end of the header section, is in the line (malformed).
  assert.equal(headerFields(Buffer.from('A: 1\r\n\nbody', 'latin1')), null);
  assert.deepEqual(headerFields(Buffer.from('A: 1\r\n  two\r\nb:3\r\n\r\nbody', 'latin1'))?.fields, new Map([['a', ['1 two']], ['b', ['3']]]));
});

/** The specification of headerSection: the text up to the first /\r?\n\r?\n/ of the prefix, cut at a line when there is none. */
function headerSectionSpec(raw: Buffer, maxBytes: number): Buffer {
  const head = raw.subarray(0, Math.min(raw.length, maxBytes)).toString('latin1');
  let end = /^\r?\n/.test(head) ? 0 : head.search(/\r?\n\r?\n/);
  if (end < 0) end = raw.length <= maxBytes ? head.length : Math.max(0, head.lastIndexOf('\n'));
  return Buffer.from(`${head.slice(0, end).replace(/\r?\n$/, '')}\r\n\r\n`, 'latin1');
}

test('headerSection cuts where the pattern-based reading cuts, on any bytes and any prefix', () => {
  fc.assert(fc.property(bytes, fc.nat({ max: 400 }), (raw, cut) => {
    for (const maxBytes of [raw.length, cut]) {
      assert.deepEqual(headerSection(raw, maxBytes), headerSectionSpec(raw, maxBytes), JSON.stringify([raw.toString('latin1'), maxBytes]));
    }
  }), { numRuns: 20_000 });
});

// Found by review: looking for a CR from each field's colon to the end of the
// header section made LF-only mail (a Maildir's, or a server passing bare LF
// through) quadratic: a megabyte of `a:b` lines held the worker 1.6 s. Not a
// timing: the characters the scan's indexOf calls pass over, counted, must
// stay within a few times the header section's length.
test('headerFields reads each header byte a bounded number of times, LF-only or CRLF', () => {
  for (const eol of ['\n', '\r\n']) {
    const raw = Buffer.from(`${`a:b${eol}`.repeat(200_000)}${eol}body`, 'latin1');
    let passed = 0;
    const indexOf = Object.getOwnPropertyDescriptor(String.prototype, 'indexOf')!.value as (this: string, search: string, from?: number) => number;
    String.prototype.indexOf = function (this: string, search: string, from?: number): number {
      const at = indexOf.call(this, search, from);
      passed += (at < 0 ? this.length : at) - (from ?? 0);
      return at;
    };
    let h: ReturnType<typeof headerFields>;
    try {
      h = headerFields(raw);
    } finally {
      String.prototype.indexOf = indexOf;
    }
    assert.equal(h?.fields.get('a')?.length, 200_000);
    assert.ok(passed < 3 * raw.length, `${JSON.stringify(eol)}: indexOf passed over ${passed} characters for ${raw.length} bytes`);
  }
});
