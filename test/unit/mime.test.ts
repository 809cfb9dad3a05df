/**
 * The raw MIME splitter: offsets must give back the exact bytes (the CRLF
 * before a delimiter belongs to the delimiter), boundaries are matched
 * exactly, and hostile structure is bounded by the limits, never a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LimitError } from '../../src/limits.js';
import {
  canonicalizeLineEndings, decodeQuotedPrintable, decodedBody, entityBytes, getHeader, parseContentType, parseMime, walkMime,
} from '../../src/mail/mime.js';

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');
const str = (b: Buffer) => b.toString('latin1');

test('canonicalizeLineEndings turns bare LF into CRLF and keeps CRLF and lone CR', () => {
  assert.equal(str(canonicalizeLineEndings(Buffer.from('a\nb\r\nc\rd\n'))), 'a\r\nb\r\nc\rd\r\n');
  const already = Buffer.from('x\r\ny\r\n');
  assert.equal(canonicalizeLineEndings(already), already, 'no copy when nothing changes');
  assert.equal(str(canonicalizeLineEndings(Buffer.from('\n\n'))), '\r\n\r\n');
});

test('parseContentType: quoted values, special characters, case, RFC 2231', () => {
  const ct = parseContentType('Multipart/Signed; micalg=pgp-sha256;\r\n protocol="application/pgp-signature";\r\n\tboundary="=_a/b+c.d=e \\"q\\""');
  assert.equal(ct.mime, 'multipart/signed');
  assert.equal(ct.params.protocol, 'application/pgp-signature');
  assert.equal(ct.params.boundary, '=_a/b+c.d=e "q"');
  assert.equal(ct.params.micalg, 'pgp-sha256');
  const cont = parseContentType("multipart/mixed; boundary*0=abc; boundary*1=def; title*=us-ascii'en'x%20y");
  assert.equal(cont.params.boundary, 'abcdef');
  assert.equal(cont.params.title, 'x y');
  assert.equal(parseContentType('garbage').mime, 'text/plain');
  assert.equal(parseContentType(undefined).mime, 'text/plain');
  assert.equal(parseContentType('text/plain; charset=ISO-8859-1; format=flowed').params.charset, 'ISO-8859-1');
});

const SIGNED = `From: a@example.org
Content-Type: multipart/signed; micalg=pgp-sha256;
 protocol="application/pgp-signature"; boundary="=-/+.b=="

This is the preamble.
--=-/+.b==
Content-Type: text/plain

line one
line two

--=-/+.b==   \t
Content-Type: application/pgp-signature

SIG
--=-/+.b==--
epilogue text
`;

test('multipart/signed with a quoted boundary of / = + . characters, preamble and epilogue', () => {
  const tree = parseMime(Buffer.from(SIGNED));
  const root = tree.root;
  assert.equal(root.contentType.mime, 'multipart/signed');
  assert.equal(root.children.length, 2);
  const [signed, sig] = root.children;
  // The signed part: from after the delimiter line to before the CRLF that precedes the next delimiter.
  assert.equal(str(entityBytes(signed)), 'Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n');
  assert.equal(getHeader(signed, 'CONTENT-TYPE'), 'text/plain');
  assert.equal(str(decodedBody(signed)), 'line one\r\nline two\r\n');
  // Transport padding after the second delimiter is allowed.
  assert.equal(sig.contentType.mime, 'application/pgp-signature');
  assert.equal(str(decodedBody(sig)), 'SIG');
  assert.equal(signed.path, 'multipart/signed>text/plain');
  assert.deepEqual(root.problems, []);
  assert.equal(tree.partCount, 3);
});

test('a line that merely starts with the boundary is not a delimiter', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=abc\n\n--abc\n\n--abcdef is text\n--abc--x\n--abc\n\nsecond\n--abc--\n');
  const root = parseMime(raw).root;
  assert.equal(root.children.length, 2);
  assert.equal(str(decodedBody(root.children[0])), '--abcdef is text\r\n--abc--x');
  assert.equal(str(decodedBody(root.children[1])), 'second');
});

test('missing close delimiter: the last part runs to the end and the defect is recorded', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nContent-Type: text/plain\n\nlast\n');
  const root = parseMime(raw).root;
  assert.equal(root.children.length, 2);
  assert.equal(str(decodedBody(root.children[1])), 'last\r\n');
  assert.ok(root.problems.some((p) => /missing close delimiter/.test(p)));
});

test('multipart without boundary or without any delimiter: no parts, no crash', () => {
  const noParam = parseMime(crlf('Content-Type: multipart/mixed\n\nbody\n')).root;
  assert.equal(noParam.children.length, 0);
  assert.ok(noParam.problems.some((p) => /without a boundary/.test(p)));
  const noDelim = parseMime(crlf('Content-Type: multipart/mixed; boundary=zz\n\nbody\n')).root;
  assert.equal(noDelim.children.length, 0);
  assert.ok(noDelim.problems.some((p) => /no delimiter/.test(p)));
});

test('empty parts and a part without headers', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nno headers here\n--b--\n');
  const root = parseMime(raw).root;
  assert.equal(root.children.length, 2);
  assert.equal(entityBytes(root.children[0]).length, 0);
  assert.equal(root.children[1].headers.length, 0);
  assert.equal(root.children[1].contentType.mime, 'text/plain');
  assert.equal(str(decodedBody(root.children[1])), 'no headers here');
});

test('headers: folding, a missing colon, a leading mbox From line, no empty line', () => {
  const root = parseMime(crlf('From someone Sat Jan  1 00:00:00 2000\nSubject: one\n two\nbroken line\nX-A: 1\n\nbody')).root;
  assert.equal(getHeader(root, 'subject'), 'one two');
  assert.equal(getHeader(root, 'x-a'), '1');
  assert.deepEqual(root.problems, ['header line without a field name']);
  const headOnly = parseMime(Buffer.from('Subject: x')).root;
  assert.equal(getHeader(headOnly, 'subject'), 'x');
  assert.equal(headOnly.bodyStart, headOnly.end);
});

test('message/rfc822, plain and (non-conformant) base64-encoded, is descended into', () => {
  const inner = 'Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\ninner text\r\n--in--\r\n';
  const plain = parseMime(crlf(`Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: message/rfc822\n\n${inner}\n--out--\n`)).root;
  const paths = [...walkMime(plain)].map((n) => n.path);
  assert.deepEqual(paths, ['multipart/mixed', 'multipart/mixed>message/rfc822', 'multipart/mixed>message/rfc822>multipart/mixed',
    'multipart/mixed>message/rfc822>multipart/mixed>text/plain']);
  const b64 = Buffer.from(inner).toString('base64').replace(/(.{60})/g, '$1\n');
  const enc = parseMime(crlf(`Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n${b64}\n`)).root;
  const leaf = [...walkMime(enc)].find((n) => n.contentType.mime === 'text/plain' && n.depth === 2)!;
  assert.equal(str(decodedBody(leaf)), 'inner text');
});

test('quoted-printable decoding: soft breaks, escapes, stray =', () => {
  assert.equal(str(decodeQuotedPrintable(Buffer.from('a=3Db=\r\nc =C2=A3 x=\n=ZZ='))), 'a=bc \xc2\xa3 x=ZZ');
});

function nested(depth: number): Buffer {
  let body = 'leaf\n';
  for (let i = depth; i > 0; i--) body = `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n${body}\n--b${i}--\n`;
  return crlf(body);
}

test('nesting deeper than maxMimeDepth is a LimitError, at the limit it is fine', () => {
  assert.doesNotThrow(() => parseMime(nested(8), { maxMimeDepth: 8 }));
  assert.throws(() => parseMime(nested(9), { maxMimeDepth: 8 }), (e: unknown) => e instanceof LimitError && e.code === 'LIMIT_MIME_DEPTH');
  // Deep rfc822 nesting counts too.
  let msg = 'Subject: x\n\nhi\n';
  for (let i = 0; i < 20; i++) msg = `Content-Type: message/rfc822\n\n${msg}`;
  assert.throws(() => parseMime(crlf(msg)), (e: unknown) => e instanceof LimitError && e.code === 'LIMIT_MIME_DEPTH');
});

test('an absurd number of parts is a LimitError, found quickly', () => {
  const many = `Content-Type: multipart/mixed; boundary=x\n\n${'--x\n\np\n'.repeat(200_000)}--x--\n`;
  const t0 = Date.now();
  assert.throws(() => parseMime(crlf(many)), (e: unknown) => e instanceof LimitError && e.code === 'LIMIT_MIME_PARTS');
  assert.ok(Date.now() - t0 < 2000, 'the limit stops the scan early');
  const few = `Content-Type: multipart/mixed; boundary=x\n\n${'--x\n\np\n'.repeat(10)}--x--\n`;
  assert.equal(parseMime(crlf(few), { maxMimeParts: 11 }).root.children.length, 10);
  assert.throws(() => parseMime(crlf(few), { maxMimeParts: 10 }), LimitError);
});

test('random and truncated input never throws anything but a LimitError', () => {
  const seeds = [SIGNED, nested(3).toString('latin1'), 'Content-Type: multipart/signed; boundary="\n\n--"\n--\n'];
  for (let i = 0; i < 300; i++) {
    let input: Buffer;
    if (i % 3 === 0) input = randomBytes(i * 7);
    else {
      const seed = Buffer.from(seeds[i % seeds.length], 'latin1');
      input = Buffer.from(seed.subarray(0, (i * 13) % (seed.length + 1)));
      for (let k = 0; k < 3 && input.length > 0; k++) input[(i * 31 + k * 17) % input.length] = (i * 7 + k) & 0xff;
    }
    try {
      const tree = parseMime(input);
      for (const n of walkMime(tree.root)) {
        assert.ok(n.start <= n.headerEnd && n.headerEnd <= n.bodyStart && n.bodyStart <= n.end && n.end <= n.buf.length, `offsets in range (${i})`);
        decodedBody(n);
      }
    } catch (e) {
      assert.ok(e instanceof LimitError, `input ${i} threw ${String(e)}`);
    }
  }
});
