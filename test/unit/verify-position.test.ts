/**
 * Where the signed entity sits decides whether it speaks for the sender
 * (issue 8 item 14): only the message itself, or a list's wrapper around it
 * (Mailman's multipart/mixed with the signed part FIRST and a footer after),
 * may carry a command. A signed mail forwarded as message/rfc822 or
 * message/global, attached as a file, or placed after other parts is still
 * verified and reported, but `authorises` is false. The dispatcher once
 * only looked for 'message/rfc822' in the path, so message/global and
 * attachments counted as the forwarded signer's vote.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGpgHome, type GpgHome, type MessageHeaders } from '../harness/gpg.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { checkMailPaths } from '../../src/mail/checkmail.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { mailmanWrap, splitMessage } from './verify-gpg-mail.js';

const COMMAND = 'APPROVE ZT-000042 3f1d2c\n';
const headers = (subject: string): MessageHeaders => ({ from: 'Alice <alice@example.org>', to: 'bot@example.org', subject });

let home: GpgHome;
let keyring: Keyring;
let alice: string;
let bob: string;
let signed: Buffer;

before(async () => {
  home = await makeGpgHome();
  alice = await home.genKey('Alice <alice@example.org>', { encryptSubkey: false });
  bob = await home.genKey('Bob <bob@example.org>', { encryptSubkey: false });
  keyring = await Keyring.fromArmored(`${await home.exportPublic(alice)}\n${await home.exportPublic(bob)}`);
  signed = await home.pgpMimeMessage(alice, headers('my vote'), COMMAND);
});

after(async () => {
  await home?.cleanup();
});

interface Part { headers: string[]; body: string }

/** An unsigned multipart/mixed mail from Bob holding these parts, in order (LF line endings, as a Maildir stores it). */
function mixed(parts: Part[]): Buffer {
  const b = 'outer-boundary-42';
  const lines = [
    'From: Bob <bob@example.org>', 'To: bot@example.org', 'Subject: Fwd: my vote',
    'Message-ID: <fwd-1@example.org>', 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${b}"`, '',
  ];
  for (const p of parts) lines.push(`--${b}`, ...p.headers, '', p.body.replace(/\n$/, ''));
  lines.push(`--${b}--`, '');
  return Buffer.from(lines.join('\n'), 'latin1');
}

const note: Part = { headers: ['Content-Type: text/plain; charset=us-ascii'], body: 'Alice asked me to pass this on.\n' };
const asMessage = (type: string, disposition?: string): Part => ({
  headers: [`Content-Type: ${type}`, ...(disposition ? [`Content-Disposition: ${disposition}`] : [])],
  body: signed.toString('latin1'),
});
/** The signed entity itself (its Content-Type and body) as a part, optionally with a disposition. */
function signedEntity(disposition?: string): Part {
  const { head, body } = splitMessage(signed);
  const ct = head.split('\n').reduce<string[]>((acc, l) => (/^[ \t]/.test(l) && acc.length ? [...acc.slice(0, -1), `${acc.at(-1)}\n${l}`] : [...acc, l]), [])
    .filter((f) => /^content-type:/i.test(f));
  return { headers: [...ct, ...(disposition ? [`Content-Disposition: ${disposition}`] : [])], body };
}

describe('positions that authorise', () => {
  test('the message itself', async () => {
    const r = await verifyMail(signed, keyring);
    assert.equal(r.verdict, 'good', r.detail);
    assert.equal(r.signer, alice);
    assert.equal(r.authorises, true);
  });

  test("a Mailman wrapper: the signed part first, the footer after", async () => {
    const r = await verifyMail(mailmanWrap(signed), keyring);
    assert.equal(r.verdict, 'good', r.detail);
    assert.equal(r.signedPartPath, 'multipart/mixed>multipart/signed');
    assert.equal(r.authorises, true);
  });

  test('the sender\'s own inline signature wins over a forwarded PGP/MIME mail beside it', async () => {
    const own = await home.inlineMessage(bob, headers('mine'), 'STATUS ZT-000001\n');
    const { body } = splitMessage(own);
    const raw = mixed([{ headers: ['Content-Type: text/plain; charset=UTF-8'], body }, asMessage('message/rfc822')]);
    const r = await verifyMail(raw, keyring);
    assert.equal(r.kind, 'inline');
    assert.equal(r.verdict, 'good', r.detail);
    assert.equal(r.signer, bob);
    assert.equal(r.authorises, true);
    assert.match(r.signedText ?? '', /STATUS ZT-000001/);
  });
});

describe('positions that never authorise (still verified and reported)', () => {
  const cases: Array<[string, () => Buffer, string, RegExp]> = [
    ['forwarded inline as message/rfc822', () => mixed([note, asMessage('message/rfc822')]),
      'multipart/mixed>message/rfc822>multipart/signed', /forwarded message \(message\/rfc822\)/],
    ['forwarded as message/global', () => mixed([note, asMessage('message/global')]),
      'multipart/mixed>message/global>multipart/signed', /forwarded message \(message\/global\)/],
    ['a .eml attached as a file, first part', () => mixed([asMessage('message/rfc822', 'attachment; filename="vote.eml"'), note]),
      'multipart/mixed>message/rfc822>multipart/signed', /forwarded message/],
    ['the signed entity attached as a file, first part', () => mixed([signedEntity('attachment; filename="vote.eml"'), note]),
      'multipart/mixed>multipart/signed', /attached as a file/],
    ['the signed entity after an unsigned part', () => mixed([note, signedEntity()]),
      'multipart/mixed>multipart/signed', /part 2 of a multipart\/mixed/],
  ];
  for (const [name, build, path, reason] of cases) {
    test(name, async () => {
      const raw = build();
      const r = await verifyMail(raw, keyring);
      assert.equal(r.kind, 'pgpmime');
      assert.equal(r.verdict, 'good', `the signature itself is intact: ${r.detail}`);
      assert.equal(r.signer, alice);
      assert.equal(r.signedPartPath, path);
      assert.equal(r.authorises, false);
      assert.ok(r.warnings.some((w) => reason.test(w) && /does not authorise a command/.test(w)), r.warnings.join('; '));

      // check-mail reports the same, with the field the dispatcher reads.
      const dir = mkdtempSync(join(tmpdir(), 'verify-position-'));
      try {
        writeFileSync(join(dir, 'm.eml'), raw);
        const rows = [];
        for await (const row of checkMailPaths([join(dir, 'm.eml')], keyring)) rows.push(row);
        assert.equal(rows[0].verdict, 'good');
        assert.equal(rows[0].authorises, false);
        assert.equal(rows[0].signedPartPath, path);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
