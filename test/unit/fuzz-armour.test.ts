/**
 * Fuzzing the armour readers. The linear scanners of src/text/blocks.ts
 * must give exactly what the (quadratic) regexes they replaced gave, on any
 * text; the key readers (readKeysAny, Keyring.fromArmored, carried.ts) and
 * the inline-signature reader of verifyMail must return or throw a typed
 * error, quickly, on hostile armour.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { armouredBlocks, blockKind, lineAnchoredBlock, trimBlanksEnd, trimLinesBlanksEnd, trimNewlinesEnd } from '../../src/text/blocks.js';
import { keyBlocksIn } from '../../src/commands/carried.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { person } from './commands-world.js';
import { fragments, fuzz } from './fuzz-bound.js';

const MARKERS = ['-----BEGIN PGP SIGNATURE-----', '-----END PGP SIGNATURE-----', '-----BEGIN PGP PUBLIC KEY BLOCK-----',
  '-----END PGP PUBLIC KEY BLOCK-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----', '-----END PGP PRIVATE KEY BLOCK-----', '-----', 'BEGIN ',
  '\n', '\r\n', 'x', ' ', '\t', 'Hash: SHA256\n', '\n\n', '- ', 'mQ', '=', 'AAAA'];
const armour = fragments(MARKERS, 40);

const all = (re: RegExp, s: string) => [...s.matchAll(re)].map((m) => m[0]);

test('armouredBlocks finds exactly what /BEGIN[\\s\\S]*?END/g found', async () => {
  await fuzz(armour, (s) => {
    assert.deepEqual(armouredBlocks(s, [blockKind('PGP SIGNATURE')]), all(/-----BEGIN PGP SIGNATURE-----[\s\S]*?-----END PGP SIGNATURE-----/g, s));
    assert.deepEqual(armouredBlocks(s, [blockKind('PGP PUBLIC KEY BLOCK'), blockKind('PGP PRIVATE KEY BLOCK')]),
      all(/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g, s));
    assert.deepEqual(armouredBlocks(s, [blockKind('PGP PUBLIC KEY BLOCK', 'PGP SIGNATURE')]),
      all(/-----BEGIN PGP (?:PUBLIC KEY BLOCK|SIGNATURE)-----[\s\S]*?-----END PGP (?:PUBLIC KEY BLOCK|SIGNATURE)-----/g, s));
    const m = /(?:^|\n)(-----BEGIN PGP SIGNATURE-----[\s\S]*?-----END PGP SIGNATURE-----)/.exec(s);
    assert.equal(lineAnchoredBlock(s, blockKind('PGP SIGNATURE')), m ? m[1] : null);
  }, () => false);
});

test('the trailing-blank trims equal the regexes they replaced', async () => {
  await fuzz(fragments([' ', '\t', '\n', 'x', '\r', '\u00a0'], 30), (s) => {
    assert.equal(trimBlanksEnd(s), s.replace(/[ \t]+$/, ''));
    // The m flag also ends a line at CR (and U+2028/9); the one caller (ticket data) turns CR into LF first and refuses non-ASCII.
    const lf = s.replace(/\r/g, '\n');
    assert.equal(trimLinesBlanksEnd(lf), lf.replace(/[ \t]+$/gm, ''));
    assert.equal(trimNewlinesEnd(s), s.replace(/\n+$/, ''));
  }, () => false);
});

test('key readers: hostile armour returns or throws PgpError, quickly', async () => {
  const p = await person('Fuzz', 'fuzz@people.test');
  const real = p.key.toPublic().armor();
  const lines = real.split('\n');
  // Fragments of a real key block: its lines, shuffled and cut, with armour markers.
  const keyish = fragments([...MARKERS, ...lines.map((l) => `${l}\n`)], 30);
  await fuzz(fc.oneof(armour, keyish), (s) => readKeysAny(s));
  await fuzz(fc.oneof(armour, keyish), (s) => Keyring.fromArmored(s));
  await fuzz(fc.uint8Array({ maxLength: 200 }), (b) => readKeysAny(b));
  await fuzz(fc.oneof(armour, keyish), (s) => {
    for (const b of keyBlocksIn(s)) assert.ok(b.startsWith('-----BEGIN PGP '));
  }, () => false);
});

test('inline signed text: hostile cleartext armour gets a verdict, never an exception', async () => {
  const p = await person('Fuzz', 'fuzz@people.test');
  const ring = Keyring.fromKeys([p.key.toPublic()]);
  const cleartext = fragments(['-----BEGIN PGP SIGNED MESSAGE-----\r\n', 'Hash: SHA256\r\n', 'Hash: MD5\r\n', 'Comment: x\r\n', '\r\n', '- ', '-----BEGIN PGP SIGNATURE-----\r\n',
    '-----END PGP SIGNATURE-----\r\n', 'wnUEARYKAB0WIQ', '=AAAA\r\n', 'HELP\r\n', ' ', '\t', 'x'], 30);
  for (const charset of ['us-ascii', 'iso-8859-1']) {
    await fuzz(cleartext, async (body) => {
      const raw = Buffer.from(`From: f@people.test\r\nTo: bot@ztrust.test\r\nContent-Type: text/plain; charset=${charset}\r\n\r\n${body}`, 'latin1');
      assert.notEqual((await verifyMail(raw, ring)).verdict, 'good');
    }, () => false);
  }
});
