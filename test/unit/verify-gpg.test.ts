/**
 * verifyMail against messages made by real GnuPG in a temporary GNUPGHOME,
 * stored with LF line endings as a Maildir holds them: every verdict, the
 * list damage that must (and must not) break a signature, S/MIME, and the
 * inline-signature traps (CVE-2023-41037, Latin-1 bodies).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { makeGpgHome, type GpgHome, type MessageHeaders } from '../harness/gpg.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { decodedBody, parseMime, walkMime } from '../../src/mail/mime.js';
import { verifyMail, type MailVerification } from '../../src/mail/verify-mail.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import {
  addHeaders, appendFooter, mailmanWrap, pgpMimeAt, replaceOnce, revokeKey,
} from './verify-gpg-mail.js';

const headers = (subject: string): MessageHeaders => ({
  from: 'Volunteer <volunteer@example.org>', to: 'ztrust-bot <bot@example.org>', subject,
});
const COMMAND = 'APPROVE ZT-000042 3f1d2c\nThanks.\n';

let home: GpgHome;
let keyring: Keyring;
const fpr: Record<string, string> = {};
const DAY = 86400;

before(async () => {
  home = await makeGpgHome();
  const now = Math.floor(Date.now() / 1000);
  fpr.ed = await home.genKey('Ed Signer <ed@example.org>', { algo: 'ed25519', encryptSubkey: false });
  fpr.rsa3072 = await home.genKey('Rsa Signer <rsa3072@example.org>', { algo: 'rsa3072', encryptSubkey: false });
  fpr.rsa2048 = await home.genKey('Small Signer <rsa2048@example.org>', { algo: 'rsa2048', encryptSubkey: false });
  fpr.unknown = await home.genKey('Stranger <stranger@example.org>', { algo: 'ed25519', encryptSubkey: false });
  fpr.revoked = await home.genKey('Revoked <revoked@example.org>', { algo: 'ed25519', encryptSubkey: false });

  // A key made three days ago without expiry; with a self-signature dated
  // half a day later (faked clock) its owner set it to expire a day after
  // that, i.e. 1.5 days after creation. A signature made at day 2 was made
  // by an already expired key.
  const t0 = now - 3 * DAY;
  const gen = await home.run(['--faked-system-time', `${t0}!`, '--status-fd', '1', '--quick-gen-key', 'Expired <expired@example.org>', 'ed25519', 'sign,cert', 'never']);
  assert.equal(gen.code, 0, gen.stderr);
  fpr.expired = /KEY_CREATED \S+ ([0-9A-F]{40})/.exec(gen.stdout.toString())![1];
  // (gpg refuses to sign with a key it knows is expired, so sign first, then
  // add the back-dated self-signature that sets the expiry.)
  expiredAtSigning = await pgpMimeAt(home, fpr.expired, COMMAND, { at: t0 + 2 * DAY });
  // Signed by the same key while it was still valid (day 1): good, even though it expired since.
  expiredSince = await pgpMimeAt(home, fpr.expired, COMMAND, { at: t0 + DAY });
  const setExp = await home.run(['--faked-system-time', `${t0 + DAY / 2}!`, '--quick-set-expire', fpr.expired, '1d']);
  assert.equal(setExp.code, 0, setExp.stderr);

  revokedSigned = await home.pgpMimeMessage(fpr.revoked, headers('from a key revoked later'), COMMAND);
  await revokeKey(home, fpr.revoked);

  const armoured = await Promise.all(['ed', 'rsa3072', 'rsa2048', 'expired', 'revoked'].map((k) => home.exportPublic(fpr[k])));
  keyring = await Keyring.fromArmored(armoured.join('\n'));
});

after(async () => {
  await home?.cleanup();
});

let expiredAtSigning: Buffer;
let expiredSince: Buffer;
let revokedSigned: Buffer;

function sigClassOf(raw: Buffer): Promise<number> {
  const tree = parseMime(raw);
  const sigPart = [...walkMime(tree.root)].find((n) => n.contentType.mime === 'application/pgp-signature')!;
  return openpgp.readSignature({ armoredSignature: decodedBody(sigPart).toString('latin1') })
    .then((s) => s.packets[0].signatureType as number);
}

function assertGood(r: MailVerification, signer: string): void {
  assert.equal(r.verdict, 'good', r.detail);
  assert.equal(r.signer, signer);
  assert.equal(r.signingKeyId, signer.slice(-16));
  assert.equal(r.hint, null);
  assert.match(r.signatureId ?? '', /^[0-9a-f]{64}$/);
  assert.ok(r.signatureCreated && Math.abs(r.signatureCreated.getTime() - Date.now()) < 10 * 60_000, 'signature time is now');
}

describe('PGP/MIME made by gpg', () => {
  test('binary (0x00) and text-mode (0x01) signatures over the CRLF part verify from LF storage', async () => {
    for (const textmode of [false, true]) {
      const raw = await home.pgpMimeMessage(fpr.ed, headers(`textmode ${textmode}`), COMMAND, { textmode });
      assert.ok(!raw.includes('\r\n'), 'stored with LF line endings');
      assert.equal(await sigClassOf(raw), textmode ? 0x01 : 0x00);
      const r = await verifyMail(raw, keyring);
      assert.equal(r.kind, 'pgpmime');
      assertGood(r, fpr.ed);
      assert.equal(r.signedText, COMMAND);
      assert.equal(r.signedPartPath, '');
      assert.equal(r.hashAlgorithm, 'sha512');
      assert.deepEqual(r.warnings, []);
      // The same bytes with CRLF line endings give the same result and the same replay id.
      const crlf = await verifyMail(Buffer.from(raw.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'), keyring);
      assert.equal(crlf.verdict, 'good');
      assert.equal(crlf.signatureId, r.signatureId);
    }
  });

  test('RSA 3072 is good; RSA 2048 is good with a warning', async () => {
    const big = await verifyMail(await home.pgpMimeMessage(fpr.rsa3072, headers('rsa3072'), COMMAND, { digest: 'SHA256' }), keyring);
    assertGood(big, fpr.rsa3072);
    assert.equal(big.hashAlgorithm, 'sha256');
    assert.deepEqual(big.warnings, []);
    const small = await verifyMail(await home.pgpMimeMessage(fpr.rsa2048, headers('rsa2048'), COMMAND), keyring);
    assertGood(small, fpr.rsa2048);
    assert.ok(small.warnings.some((w) => /RSA 2048 bits is below the recommended 3072/.test(w)), small.warnings.join('; '));
  });

  test('one changed byte in the signed text is bad, with a hint', async () => {
    const raw = await home.pgpMimeMessage(fpr.ed, headers('tamper'), COMMAND);
    const r = await verifyMail(replaceOnce(raw, 'ZT-000042', 'ZT-000043'), keyring);
    assert.equal(r.verdict, 'bad');
    assert.equal(r.kind, 'pgpmime');
    assert.match(r.detail, /does not match the signed data/);
    assert.equal(r.signedText, null, 'no text from a bad signature');
    assert.equal(r.signer, fpr.ed, 'names the key the signature claims');
    assert.match(r.hint ?? '', /changed after it was signed/);
  });

  test('a Mailman footer wrapper around an intact signed part is still good', async () => {
    for (const textmode of [false, true]) {
      const raw = await home.pgpMimeMessage(fpr.rsa3072, headers('via list'), COMMAND, { textmode, protectedHeaders: true });
      const wrapped = mailmanWrap(raw, { subjectTag: 'ztrust-test' });
      const r = await verifyMail(wrapped, keyring);
      assertGood(r, fpr.rsa3072);
      assert.equal(r.signedPartPath, 'multipart/mixed>multipart/signed');
      assert.equal(r.signedText, COMMAND, 'the footer is not signed text');
      // The list tagged the outer Subject; the protected one is the sender's.
      assert.equal(r.protectedHeaders?.subject, 'via list');
      assert.match(r.protectedHeaders?.from ?? '', /volunteer@example\.org/);
    }
  });

  test('a header refolded inside the signed part (old Mailman) is bad, and the hint blames the list', async () => {
    const raw = await home.pgpMimeMessage(fpr.ed, headers('refolded'), COMMAND, { protectedHeaders: true });
    const refolded = replaceOnce(raw, /Content-Type: text\/plain; charset=UTF-8; protected-headers="v1"/,
      'Content-Type: text/plain; charset=UTF-8;\n\tprotected-headers="v1"');
    const r = await verifyMail(mailmanWrap(refolded), keyring);
    assert.equal(r.verdict, 'bad');
    assert.equal(r.signedText, null);
    assert.match(r.hint ?? '', /mailing list/i);
    assert.match(r.hint ?? '', /inline/);
    assert.match(r.hint ?? '', /list owner/);
    // Without a wrapper, List-Id alone is enough to say a list was involved.
    const direct = await verifyMail(addHeaders(refolded, ['List-Id: <x.lists.example.org>']), keyring);
    assert.equal(direct.verdict, 'bad');
    assert.match(direct.hint ?? '', /mailing list/i);
  });

  test('a list that drops the signature part leaves a bad multipart/signed, not a crash', async () => {
    const raw = (await home.pgpMimeMessage(fpr.ed, headers('stripped'), COMMAND)).toString('latin1');
    const b = /boundary="([^"]+)"/.exec(raw)![1];
    const cut = raw.slice(0, raw.indexOf(`\n--${b}\nContent-Type: application/pgp-signature`)) + `\n--${b}--\n`;
    const r = await verifyMail(addHeaders(Buffer.from(cut, 'latin1'), ['List-Id: <x.lists.example.org>']), keyring);
    assert.equal(r.verdict, 'bad');
    assert.equal(r.kind, 'pgpmime');
    assert.match(r.detail, /no signature part/);
    assert.match(r.hint ?? '', /mailing list/i);
  });

  test('garbage in the signature part is bad with a clear detail', async () => {
    const raw = await home.pgpMimeMessage(fpr.ed, headers('garbage'), COMMAND);
    const broken = replaceOnce(raw, /-----BEGIN PGP SIGNATURE-----\n\n[A-Za-z0-9+/]{10}/, '-----BEGIN PGP SIGNATURE-----\n\n!!!!garbage');
    const r = await verifyMail(broken, keyring);
    assert.equal(r.verdict, 'bad');
    assert.match(r.detail, /could not be read|not valid|does not match/);
  });

  test('an unknown key is nokey with the issuer key id', async () => {
    const r = await verifyMail(await home.pgpMimeMessage(fpr.unknown, headers('stranger'), COMMAND), keyring);
    assert.equal(r.verdict, 'nokey');
    assert.equal(r.signer, null);
    assert.equal(r.signingKeyId, fpr.unknown.slice(-16));
    assert.ok(r.detail.includes(fpr.unknown), r.detail);
    assert.equal(r.signedText, null);
  });

  test('a key already expired when it signed is expired-key; one that expired later is good', async () => {
    const r = await verifyMail(expiredAtSigning, keyring);
    assert.equal(r.verdict, 'expired-key', r.detail);
    assert.equal(r.signer, fpr.expired);
    assert.match(r.detail, /had already expired/);
    assert.ok(r.hint);
    const later = await verifyMail(expiredSince, keyring);
    assert.equal(later.verdict, 'good', later.detail);
    assert.ok(later.warnings.some((w) => /expired on/.test(w)), later.warnings.join('; '));
  });

  test('a revoked key is revoked-key, even for a signature made before the revocation', async () => {
    const r = await verifyMail(revokedSigned, keyring);
    assert.equal(r.verdict, 'revoked-key', r.detail);
    assert.equal(r.signer, fpr.revoked);
    assert.ok(r.hint);
  });

  test('SHA-1 is weak (the policy refuses it, judged from the packet before verifying)', async () => {
    const raw = await home.pgpMimeMessage(fpr.rsa3072, headers('sha1'), COMMAND, { digest: 'SHA1' });
    const r = await verifyMail(raw, keyring);
    assert.equal(r.verdict, 'weak', r.detail);
    assert.equal(r.hashAlgorithm, 'sha1');
    assert.match(r.detail, /SHA-1/);
    assert.equal(r.signer, fpr.rsa3072);
    assert.match(r.hint ?? '', /SHA-256/);
    // A policy that allows SHA-1 turns the same message good: the verdict is the policy's.
    const lax = await verifyMail(raw, keyring, { policy: { ...(await import('../../src/policy/index.js')).DEFAULT_CRYPTO_POLICY, rejectHashes: [] } });
    assert.equal(lax.verdict, 'good');
  });

  test('a signature from the future (beyond the clock skew) is bad; within the skew it is accepted', async () => {
    const raw = await home.pgpMimeMessage(fpr.ed, headers('clock'), COMMAND);
    const past = new Date(Date.now() - 3600_000);
    assert.equal((await verifyMail(raw, keyring, { now: past })).verdict, 'bad');
    assert.equal((await verifyMail(raw, keyring, { now: new Date(Date.now() - 60_000) })).verdict, 'good');
  });

  test('an attached key inside the signed part is returned as a signed attachment', async () => {
    const key = await home.exportPublic(fpr.ed);
    const raw = await home.pgpMimeMessage(fpr.ed, headers('SUBMIT KEY'), 'SUBMIT KEY\n', {
      attachments: [{ filename: 'key.asc', contentType: 'application/pgp-keys', content: key }],
    });
    const r = await verifyMail(raw, keyring);
    assertGood(r, fpr.ed);
    assert.equal(r.signedText?.trim(), 'SUBMIT KEY');
    assert.equal(r.signedAttachments.length, 1);
    assert.equal(r.signedAttachments[0].filename, 'key.asc');
    assert.equal(r.signedAttachments[0].content.toString('utf8'), key);
  });
});

describe('inline signatures made by gpg', () => {
  test('clearsigned text is good and signedText is the verified text only', async () => {
    const raw = await home.inlineMessage(fpr.ed, headers('inline'), COMMAND);
    const r = await verifyMail(raw, keyring);
    assert.equal(r.kind, 'inline');
    assertGood(r, fpr.ed);
    assert.equal(r.signedText, COMMAND.replace(/\n$/, ''));
  });

  test('a banner before and a list footer after the armour still verify, and stay out of signedText', async () => {
    const raw = await home.inlineMessage(fpr.ed, headers('inline via list'), COMMAND);
    const withBanner = replaceOnce(raw, '-----BEGIN PGP SIGNED MESSAGE-----', 'APPROVE ZT-000099 ffff (LISTSERV banner)\n\n-----BEGIN PGP SIGNED MESSAGE-----');
    const r = await verifyMail(appendFooter(addHeaders(withBanner, ['List-Id: <x.lists.example.org>'])), keyring);
    assertGood(r, fpr.ed);
    assert.equal(r.signedText, COMMAND.replace(/\n$/, ''));
    assert.ok(r.warnings.some((w) => /outside the signed block/.test(w)));
    // Mailman's multipart wrapper around an inline message: also good.
    const wrapped = await verifyMail(mailmanWrap(raw), keyring);
    assertGood(wrapped, fpr.ed);
    assert.equal(wrapped.signedPartPath, 'multipart/mixed>text/plain');
  });

  test('one changed byte is bad', async () => {
    const raw = await home.inlineMessage(fpr.ed, headers('inline tamper'), COMMAND);
    const r = await verifyMail(replaceOnce(raw, 'ZT-000042', 'ZT-000043'), keyring);
    assert.equal(r.verdict, 'bad');
    assert.equal(r.kind, 'inline');
    assert.equal(r.signedText, null);
  });

  test('CVE-2023-41037: text smuggled in front of the Hash: header is never reported as signed', async () => {
    const raw = await home.inlineMessage(fpr.ed, headers('cve'), COMMAND);
    const smuggled = replaceOnce(raw, /\nHash: /, '\nREJECT ZT-000042 x smuggled. Hash: ');
    const r = await verifyMail(smuggled, keyring);
    assert.ok(!(r.signedText ?? '').includes('smuggled'));
    assert.notEqual(r.verdict, 'good', `verdict ${r.verdict}: ${r.detail}`);
    // An extra armour header line before Hash: is refused too.
    const extra = await verifyMail(replaceOnce(raw, /\nHash: /, '\nComment: REJECT ZT-000042 smuggled\nHash: '), keyring);
    if (extra.verdict === 'good') assert.ok(!(extra.signedText ?? '').includes('smuggled'));
    // And the Latin-1 path (our own cleartext parser) refuses it outright.
    const latin = await home.inlineMessage(fpr.ed, headers('cve latin1'), 'Grüße\nAPPROVE ZT-000042\n', { charset: 'ISO-8859-1' });
    const latinSmuggled = await verifyMail(replaceOnce(latin, /\nHash: /, '\nREJECT smuggled Hash: '), keyring);
    assert.equal(latinSmuggled.verdict, 'bad');
    assert.equal(latinSmuggled.signedText, null);
  });

  test('a Latin-1 inline-signed body verifies over its original bytes', async () => {
    const body = 'Grüße aus Köln\nAPPROVE ZT-000042 3f1d2c\n£ 2.00  \n- dash line\n';
    const raw = await home.inlineMessage(fpr.rsa3072, headers('latin1'), body, { charset: 'ISO-8859-1' });
    assert.match(raw.toString('latin1'), /charset=ISO-8859-1/);
    const r = await verifyMail(raw, keyring);
    assert.equal(r.kind, 'inline');
    assertGood(r, fpr.rsa3072);
    // Trailing blanks are not part of a cleartext signature; dash-escaping is undone.
    assert.equal(r.signedText, 'Grüße aus Köln\nAPPROVE ZT-000042 3f1d2c\n£ 2.00\n- dash line');
    const tampered = await verifyMail(replaceOnce(raw, 'K=F6ln', 'K=F8ln'), keyring);
    assert.equal(tampered.verdict, 'bad');
  });

  test('an inline signature by an unknown key is nokey; an unterminated one is bad', async () => {
    const raw = await home.inlineMessage(fpr.unknown, headers('inline stranger'), COMMAND);
    const r = await verifyMail(raw, keyring);
    assert.equal(r.verdict, 'nokey');
    assert.equal(r.signingKeyId, fpr.unknown.slice(-16));
    const cut = raw.toString('latin1').replace(/-----END PGP SIGNATURE-----\n?/, '');
    const t = await verifyMail(Buffer.from(cut, 'latin1'), keyring);
    assert.equal(t.verdict, 'bad');
    assert.match(t.detail, /incomplete/);
  });
});

describe('other kinds and hostile input', () => {
  test('an S/MIME signed message (made by openssl) is unsupported, kind unsigned', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'verify-smime-'));
    try {
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=smime test/emailAddress=s@example.org',
          '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      } catch {
        t.skip('openssl is not available');
        return;
      }
      writeFileSync(join(dir, 'msg.txt'), 'Content-Type: text/plain\n\nAPPROVE ZT-000042 3f1d2c\n');
      execFileSync('openssl', ['smime', '-sign', '-in', join(dir, 'msg.txt'), '-signer', join(dir, 'cert.pem'), '-inkey', join(dir, 'key.pem'),
        '-from', 's@example.org', '-to', 'bot@example.org', '-subject', 'smime', '-out', join(dir, 'signed.eml')]);
      const r = await verifyMail(readFileSync(join(dir, 'signed.eml')), keyring);
      assert.equal(r.kind, 'unsigned');
      assert.equal(r.verdict, 'unsigned');
      assert.equal(r.unsupported, 'smime');
      assert.equal(r.signedText, null);
      assert.match(r.detail, /S\/MIME/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unsigned mail is unsigned', async () => {
    const r = await verifyMail(home.plainMessage(headers('plain'), COMMAND), keyring);
    assert.equal(r.kind, 'unsigned');
    assert.equal(r.verdict, 'unsigned');
    assert.equal(r.signedText, null);
    assert.equal(r.unsupported, null);
  });

  test('oversize, over-deep and over-wide messages are malformed, never a throw', async () => {
    const raw = await home.pgpMimeMessage(fpr.ed, headers('limits'), COMMAND);
    const small = await verifyMail(raw, keyring, { limits: { ...DEFAULT_LIMITS, maxMessageBytes: 100 } });
    assert.equal(small.verdict, 'malformed');
    assert.match(small.detail, /larger than/);
    const shallow = await verifyMail(mailmanWrap(raw), keyring, { limits: { ...DEFAULT_LIMITS, maxMimeDepth: 1 } });
    assert.equal(shallow.verdict, 'malformed');
    assert.match(shallow.detail, /nested too deeply/);
    const narrow = await verifyMail(raw, keyring, { limits: { ...DEFAULT_LIMITS, maxMimeParts: 2 } });
    assert.equal(narrow.verdict, 'malformed');
    assert.match(narrow.detail, /too many MIME parts/);
  });

  test('mangled copies of a signed message never throw and are never good', async () => {
    const raw = await home.pgpMimeMessage(fpr.ed, headers('fuzz'), COMMAND);
    const inline = await home.inlineMessage(fpr.ed, headers('fuzz inline'), COMMAND);
    for (const base of [raw, inline]) {
      for (let i = 0; i < 60; i++) {
        const b = Buffer.from(base);
        const at = Math.floor((i / 60) * b.length);
        b[at] = b[at] ^ 0x20;
        const r = await verifyMail(i % 5 === 0 ? b.subarray(0, at) : b, keyring);
        assert.ok(typeof r.verdict === 'string');
        // A flipped byte in the signed part must not verify (flips in headers outside it may).
        if (r.verdict === 'good') assert.equal(r.signedText?.replace(/\r?\n$/, ''), COMMAND.replace(/\n$/, ''));
      }
    }
  });
});
