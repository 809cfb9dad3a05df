/**
 * The contract with the shared signed-mail corpus: for every row of
 * fixtures/mail/MANIFEST.tsv, verifyMail with only that source's keys.asc
 * agrees with GnuPG's verdict, kind and signer fingerprint.
 *
 * EXPIRED-KEY-GOOD means GnuPG said EXPKEYSIG: the key expired AFTER it
 * signed, so the signature is good (verifyMail judges key validity at the
 * signature's time; the age of a signature is a separate, caller-side policy
 * decision with judgeSignatureTime, so no fixed `now` is needed here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Keyring } from '../../src/pgp/keyring.js';
import { verifyMail, type Verdict } from '../../src/mail/verify-mail.js';

const MAIL = fileURLToPath(new URL('../../../shared/fixtures/mail/', import.meta.url));
const MANIFEST = `${MAIL}MANIFEST.tsv`;
const present = existsSync(MANIFEST);
const SKIP = present ? false : `shared fixtures not found at ${MAIL} (the ../shared checkout is absent)`;

const EXPECTED: Record<string, Verdict> = {
  GOOD: 'good',
  'EXPIRED-KEY-GOOD': 'good',
  BAD: 'bad',
  NOKEY: 'nokey',
};

interface Row { path: string; expected: string; kind: string; signer: string; list: string; note: string }

function rows(): Row[] {
  if (!present) return [];
  const lines = readFileSync(MANIFEST, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const header = lines[0].split('\t');
  assert.deepEqual(header.slice(0, 4), ['path', 'expected', 'kind', 'signer_fingerprint']);
  return lines.slice(1).map((l) => {
    const [path, expected, kind, signer, list, note] = l.split('\t');
    return { path, expected, kind, signer, list, note: note ?? '' };
  });
}

const keyrings = new Map<string, Promise<Keyring>>();
function keyringFor(source: string): Promise<Keyring> {
  let k = keyrings.get(source);
  if (!k) {
    k = Keyring.fromArmored(readFileSync(`${MAIL}${source}/keys.asc`, 'utf8'));
    keyrings.set(source, k);
  }
  return k;
}

test('signed-mail fixtures agree with the MANIFEST', { skip: SKIP }, async (t) => {
  const all = rows();
  assert.ok(all.length >= 57, `expected at least 57 manifest rows, got ${all.length}`);
  for (const row of all) {
    await t.test(row.path, async () => {
      assert.ok(row.expected in EXPECTED, `unknown expected value ${row.expected}`);
      const keyring = await keyringFor(row.path.split('/')[0]);
      const r = await verifyMail(readFileSync(`${MAIL}${row.path}`), keyring);
      const why = `${r.verdict}/${r.kind}: ${r.detail}`;
      assert.equal(r.verdict, EXPECTED[row.expected], why);
      assert.equal(r.kind, row.kind, why);
      if (row.signer !== '-') assert.equal(r.signer, row.signer, why);
      assert.equal(r.unsupported, null);

      // The signed node's position, where the note gives it.
      const at = /signed node at ([a-z0-9/>.-]+)/.exec(row.note);
      if (at) assert.equal(r.signedPartPath, at[1]);
      else if (row.kind === 'pgpmime') assert.equal(r.signedPartPath, '');

      if (r.verdict === 'good') {
        assert.ok(r.signedText !== null && r.signedText.length > 0, 'a good signature yields the signed text');
        assert.match(r.signingKeyId ?? '', /^[0-9A-F]{16}$/);
        assert.match(r.signatureId ?? '', /^[0-9a-f]{64}$/);
        assert.ok(r.signatureCreated instanceof Date);
        assert.match(r.hashAlgorithm ?? '', /^sha(256|512)$/);
        assert.equal(r.hint, null);
      }
      if (r.verdict === 'bad') {
        assert.equal(r.signedText, null, 'a bad signature authenticates no text');
        assert.ok(r.hint, 'a bad verdict explains how to resend');
      }
      if (row.expected === 'NOKEY') {
        const issuer = /issuer=([0-9A-F]{40})/.exec(row.note)?.[1];
        assert.ok(issuer, 'NOKEY rows name the issuer');
        assert.equal(r.signingKeyId, issuer.slice(-16));
        assert.equal(r.signer, null);
        assert.equal(r.signedText, null);
      }
    });
  }
});

test('fixture specifics: lists, forwards, protected headers, replays', { skip: SKIP }, async () => {
  // The five msg-3 copies are one post relayed through different lists: the
  // same signature, so the same replay id whatever the wrapper.
  const notmuch = await keyringFor('notmuch');
  const ids = new Set<string | null>();
  for (let i = 1; i <= 5; i++) {
    const r = await verifyMail(readFileSync(`${MAIL}notmuch/msg-3-${i}.eml`), notmuch);
    assert.equal(r.verdict, 'good');
    ids.add(r.signatureId);
    // Sean Whitton's key expired in 2024, after the 2018 signature.
    assert.ok(r.warnings.some((w) => /expired on 2024-07-26/.test(w)), r.warnings.join('; '));
  }
  assert.equal(ids.size, 1);

  // A Mailman footer wrapper: the footer is outside the signed text.
  const kvmarm = await keyringFor('kvmarm');
  const wrapped = await verifyMail(readFileSync(`${MAIL}kvmarm/m-ade8974d84ee.eml`), kvmarm);
  assert.equal(wrapped.signedPartPath, 'multipart/mixed>multipart/signed');
  assert.ok(!/mailman\/listinfo/i.test(wrapped.signedText ?? ''), 'the list footer is not in the signed text');
  assert.ok(wrapped.warnings.some((w) => /not the whole message/.test(w)));

  const tb = await keyringFor('thunderbird');
  // A forwarded signed message is the forwarded author's signature: say so.
  const fwd = await verifyMail(readFileSync(`${MAIL}thunderbird/forwarded-eml-signed-by-alice.eml`), tb);
  assert.equal(fwd.signedPartPath, 'multipart/mixed>message/rfc822>multipart/signed');
  assert.ok(fwd.warnings.some((w) => /forwarded/.test(w)));

  // The Thunderbird control message with its attached key and protected headers.
  const withKey = await verifyMail(readFileSync(`${MAIL}thunderbird/signed-by-0x3099ff1238852b9f-to-0xf231550c4f47e38e-unencrypted-with-key.eml`), tb);
  assert.equal(withKey.verdict, 'good');
  assert.equal(withKey.signedText?.trim(), 'Sundays are nothing without callaloo.');
  assert.equal(withKey.signedAttachments.length, 1);
  assert.equal(withKey.signedAttachments[0].contentType, 'application/pgp-keys');
  assert.match(withKey.signedAttachments[0].content.toString('latin1'), /BEGIN PGP PUBLIC KEY BLOCK/);
  assert.ok(withKey.protectedHeaders?.from?.includes('@'), JSON.stringify(withKey.protectedHeaders));
  assert.ok(withKey.protectedHeaders?.subject !== undefined);

  // Its edited sibling went through a (simulated) list: the hint says so.
  const edited = await verifyMail(readFileSync(`${MAIL}thunderbird/signed-with-mailman-footer.eml`), tb);
  assert.equal(edited.verdict, 'bad');
  assert.match(edited.hint ?? '', /list/i);
  assert.match(edited.hint ?? '', /inline/i);

  // A stripped signature part is 'bad' with a detail that says what is missing.
  const stripped = await verifyMail(readFileSync(`${MAIL}thunderbird/openpgp__stripped_sig.eml`), tb);
  assert.equal(stripped.verdict, 'bad');
  assert.match(stripped.detail, /no signature part/);

  // Inline with a pound sign: the text returned is the verified text.
  const utf = await verifyMail(readFileSync(`${MAIL}thunderbird/alice-utf.eml`), tb);
  assert.equal(utf.kind, 'inline');
  assert.match(utf.signedText ?? '', /Domain: +£1\.20/);
  assert.ok(!(utf.signedText ?? '').includes('BEGIN PGP'));

  // The same message against the wrong source's keys is nokey, never good.
  const cross = await verifyMail(readFileSync(`${MAIL}thunderbird/alice-utf.eml`), kvmarm);
  assert.equal(cross.verdict, 'nokey');
  assert.equal(cross.signingKeyId, 'F231550C4F47E38E');
});
