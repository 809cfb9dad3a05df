/**
 * The signed text read from the MIME tree (src/mail/plain-text.ts) is the
 * text mailparser gives for the same bytes: a command is read from it, so
 * the shortcut must never read anything else. Checked against mailparser
 * itself (simpleParser, as verify-mail.ts calls it) on generated entities:
 * charsets, transfer encodings, blanks added in transport, soft line
 * breaks, non-ASCII text, stray CRs, attachments and headers that send the
 * entity back to mailparser.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { parseMime } from '../../src/mail/mime.js';
import { plainTextOf } from '../../src/mail/plain-text.js';

const CHUNKS = ['HELP', 'VERIFY sha256:', 'abc', ' ', '  ', '\t', '=', '==', '=41', '-', '- ', 'café', '日本語', '😀', 'ÿ', '.', 'From x'];
const line = fc.array(fc.constantFrom(...CHUNKS), { maxLength: 30 }).map((xs) => xs.join(''));
const content = fc.record({ lines: fc.array(line, { maxLength: 12 }), final: fc.boolean(), strayCr: fc.constantFrom(false, false, false, true), at: fc.nat() })
  .map(({ lines, final, strayCr, at }) => {
    const text = lines.join('\r\n') + (final ? '\r\n' : '');
    // Now and then a CR that ends no line.
    return strayCr ? `${text.slice(0, at % (text.length + 1))}\r${text.slice(at % (text.length + 1))}` : text;
  });

/** Quoted-printable as a client might write it: soft breaks where it likes, blanks added in transport at some line ends. */
function qp(bytes: Buffer, softEvery: number, transportBlanks: boolean): string {
  const out: string[] = [];
  let col = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0d && bytes[i + 1] === 0x0a) {
      out.push(transportBlanks ? ' \t\r\n' : '\r\n');
      i++;
      col = 0;
      continue;
    }
    const lit = (b >= 0x21 && b <= 0x7e && b !== 0x3d) || ((b === 0x20 || b === 0x09) && bytes[i + 1] !== 0x0d && i + 1 < bytes.length);
    const piece = lit ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (col + piece.length > softEvery) {
      out.push(transportBlanks ? '=  \r\n' : '=\r\n');
      col = 0;
    }
    out.push(piece);
    col += piece.length;
  }
  return out.join('');
}

const entity = fc.record({
  text: content,
  charset: fc.constantFrom(null, 'utf-8', 'UTF-8', 'us-ascii', '"utf-8"', 'iso-8859-1'),
  cte: fc.constantFrom(null, '7bit', '8bit', 'quoted-printable', 'base64', 'Quoted-Printable'),
  softEvery: fc.integer({ min: 4, max: 76 }),
  transportBlanks: fc.boolean(),
  extra: fc.constantFrom('', '', '', '', 'X-Other: 1\r\n', 'Content-Disposition: inline\r\n',
    'Content-Disposition: attachment; filename=a.txt\r\n', 'Subject: protected\r\n'),
  flowed: fc.constantFrom(false, false, false, false, false, true),
}).map((e) => {
  const bytes = Buffer.from(e.text, 'utf8');
  const cte = e.cte?.toLowerCase() ?? null;
  const body = cte === 'quoted-printable' ? qp(bytes, e.softEvery, e.transportBlanks)
    : cte === 'base64' ? (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')
      : e.text;
  const ct = `Content-Type: text/plain${e.charset ? `; charset=${e.charset}` : ''}${e.flowed ? '; format=flowed' : ''}\r\n`;
  return Buffer.from(`${ct}${e.cte ? `Content-Transfer-Encoding: ${e.cte}\r\n` : ''}${e.extra}\r\n${body}`, cte === 'quoted-printable' || cte === 'base64' ? 'latin1' : 'utf8');
});

test('the text read from the tree is mailparser\'s text for the same bytes, whenever the shortcut answers', async () => {
  let answered = 0;
  let runs = 0;
  await fc.assert(fc.asyncProperty(entity, async (bytes) => {
    runs++;
    const mine = plainTextOf(parseMime(bytes).root);
    if (mine === null) return;
    answered++;
    const theirs = (await simpleParser(bytes, { skipTextToHtml: true, skipImageLinks: true })).text ?? '';
    assert.equal(mine, theirs);
  }), { numRuns: 3000, ...(process.env.ZTRUST_FUZZ_SEED ? { seed: Number(process.env.ZTRUST_FUZZ_SEED) } : {}) });
  // The property says something only if the shortcut answers often.
  assert.ok(answered > runs / 5, `the shortcut answered ${answered} of ${runs}`);
});

test('shapes it leaves to mailparser: attachments, flowed text, protected headers, other charsets, multipart, stray CR', () => {
  const no = (s: string) => assert.equal(plainTextOf(parseMime(Buffer.from(s, 'latin1')).root), null, JSON.stringify(s));
  no('Content-Type: text/plain\r\nContent-Disposition: attachment; filename=x.txt\r\n\r\nHELP\r\n');
  no('Content-Type: text/plain; name=x.txt\r\n\r\nHELP\r\n');
  no('Content-Type: text/plain; format=flowed\r\n\r\nHELP \r\nmore\r\n');
  no('Content-Type: text/plain\r\nFrom: someone@example.org\r\n\r\nHELP\r\n');
  no('Content-Type: text/plain; charset=iso-8859-1\r\n\r\nHELP\r\n');
  no('Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHELP caf\xc3\xa9\r\n');
  no('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHELP \xff\r\n');
  no('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHELP=0Dx\r\n');
  no('Content-Type: text/html\r\n\r\n<p>HELP</p>\r\n');
  no('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHELP\r\n--b--\r\n');
  assert.equal(plainTextOf(parseMime(Buffer.from('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHELP=20 \r\ncaf=C3=A9\r\n')).root), 'HELP \ncafé\n');
});
