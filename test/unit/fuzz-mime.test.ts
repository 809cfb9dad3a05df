/**
 * Fuzzing the hand-written MIME splitter (src/mail/mime.ts) and the verifier
 * that runs on its output: random and structure-biased mail returns a tree
 * (or LimitError on depth/part count), every node's offsets lie inside its
 * parent's, slicing and decoding never throw, and verifyMail answers with a
 * verdict instead of throwing. Each input is timed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LimitError } from '../../src/limits.js';
import {
  canonicalizeLineEndings, decodedBody, entityBytes, parseContentType, parseMime, walkMime, type MimeNode,
} from '../../src/mail/mime.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { person } from './commands-world.js';
import { fragments, fuzz } from './fuzz-bound.js';

const PIECES = [
  'Content-Type: multipart/mixed; boundary="b"\r\n', 'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary=b\r\n',
  'Content-Type: multipart/alternative; boundary=', 'Content-Type: text/plain; charset=utf-8\r\n', 'Content-Type: message/rfc822\r\n',
  'Content-Type: application/pgp-signature\r\n', 'Content-Transfer-Encoding: base64\r\n', 'Content-Transfer-Encoding: quoted-printable\r\n',
  'boundary*0="a"; boundary*1="b"', '\r\n', '\n', '\r', '\r\n\r\n', '--b\r\n', '--b--\r\n', '--b', '--', ' b', '\t', ';', '"', '=',
  '=\r\n', '=4', '=41', 'From: x@y\r\n', ' folded\r\n', 'MIME-Version: 1.0\r\n',
  '-----BEGIN PGP SIGNATURE-----\r\n', '-----END PGP SIGNATURE-----\r\n', '-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n',
];

// An encoded message/rfc822 part (its child has a buffer of its own): the first version of
// checkNode got this wrong; kept so every run checks the case.
const REGRESSION = ['Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n'];
const mailArb = fc.oneof(fc.constantFrom(...REGRESSION), fragments(PIECES, 80), fc.string({ unit: 'binary', maxLength: 400 }));

function checkNode(n: MimeNode, parent: MimeNode | null): void {
  assert.ok(n.start <= n.headerEnd && n.headerEnd <= n.bodyStart && n.bodyStart <= n.end && n.end <= n.buf.length,
    `offsets out of order: ${n.start} ${n.headerEnd} ${n.bodyStart} ${n.end}`);
  // A base64 or quoted-printable message/rfc822 child lives in a decoded buffer of its own (mime.ts).
  if (parent && n.buf === parent.buf) assert.ok(n.start >= parent.bodyStart && n.end <= parent.end, 'a child outside its parent');
  if (parent && n.buf !== parent.buf) assert.equal(parent.contentType.type, 'message');
  entityBytes(n);
  decodedBody(n);
  for (const c of n.children) checkNode(c, n);
}

test('parseMime: every input gives a consistent tree or a LimitError, quickly', async () => {
  const limited = (e: unknown) => e instanceof LimitError;
  await fuzz(mailArb, (s) => {
    const tree = parseMime(Buffer.from(s, 'latin1'), { maxMimeDepth: 5, maxMimeParts: 20 });
    checkNode(tree.root, null);
    assert.ok([...walkMime(tree.root)].length <= 21);
  }, limited);
});

test('canonicalizeLineEndings leaves no bare LF and changes nothing else; parseContentType never throws', async () => {
  await fuzz(fc.uint8Array({ maxLength: 300 }), (b) => {
    const out = canonicalizeLineEndings(Buffer.from(b));
    for (let i = 0; i < out.length; i++) if (out[i] === 0x0a) assert.equal(out[i - 1], 0x0d);
    assert.deepEqual(out.toString('latin1').replace(/\r\n/g, '\n'), Buffer.from(b).toString('latin1').replace(/\r\n/g, '\n'));
  }, () => false);
  await fuzz(fragments(['text/plain', 'multipart/mixed', ';', ' ', '=', '"', '\\', 'boundary', 'charset', '*0', '*1', "*=utf-8''", '%41', '(c)'], 30),
    (s) => {
      const ct = parseContentType(s);
      assert.match(ct.mime, /^[^/\s]+\/[^/\s]+$/);
    }, () => false);
});

test('verifyMail answers every fuzzed mail with a verdict and never throws', async () => {
  const p = await person('Fuzz', 'fuzz@people.test');
  const ring = Keyring.fromKeys([p.key.toPublic()]);
  const verdicts = new Set<string>();
  await fuzz(mailArb, async (s) => {
    verdicts.add((await verifyMail(Buffer.from(s, 'latin1'), ring)).verdict);
  }, () => false);
  assert.ok(verdicts.size >= 2, [...verdicts].join(' '));
});
