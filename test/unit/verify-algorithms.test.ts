/**
 * Hash and public-key algorithms as real GnuPG makes them, checked through
 * check-mail's code path (checkMailPaths on files) and verifyMail, PGP/MIME
 * and inline, with the exact verdict the policy gives: a refused hash is
 * 'weak' and says how to fix gpg.conf, never 'good' (RIPEMD-160 once was) and
 * never 'bad' with "changed after it was signed" (SHA-1 with Ed25519 once
 * was); a refused key (DSA, RSA-1024) is 'weak'; a v3 signature is 'weak'
 * with "re-sign with a current OpenPGP client" (it once was "no signature
 * packet").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { checkMailPaths } from '../../src/mail/checkmail.js';
import { verifyMail, type MailVerification } from '../../src/mail/verify-mail.js';
import {
  genKeyWith, inlineWith, pgpMimeAt, replaceSignature, toV3, type GpgDigest,
} from './verify-gpg-mail.js';

const COMMAND = 'APPROVE ZT-000042 3f1d2c\n';
const TAMPER_HINT = /changed after it was signed/;
const HASH_FIX = /personal-digest-preferences SHA512/;

let home: GpgHome;
let dir: string;
let keyring: Keyring;
const fpr: Record<string, string> = {};

before(async () => {
  home = await makeGpgHome();
  dir = mkdtempSync(join(tmpdir(), 'verify-algorithms-'));
  fpr.rsa3072 = await home.genKey('Rsa <rsa@example.org>', { algo: 'rsa3072', encryptSubkey: false });
  fpr.ed = await home.genKey('Ed <ed@example.org>', { algo: 'ed25519', encryptSubkey: false });
  fpr.dsa = await genKeyWith(home, 'Dsa <dsa@example.org>', 'dsa1024');
  fpr.rsa1024 = await genKeyWith(home, 'Small <small@example.org>', 'rsa1024');
  fpr.ecdsa = await genKeyWith(home, 'Ec <ec@example.org>', 'nistp256');
  // A key whose own self-signature is RIPEMD-160 (old GnuPG 1.x defaults); its message signatures are SHA-256.
  const old = await home.run(['--status-fd', '1', '--cert-digest-algo', 'RIPEMD160', '--quick-gen-key', 'Old <old@example.org>', 'rsa3072', 'sign,cert', 'never']);
  fpr.oldSelfSig = /KEY_CREATED \S+ ([0-9A-F]{40})/.exec(old.stdout.toString())![1];
  keyring = await Keyring.fromArmored((await Promise.all(Object.values(fpr).map((f) => home.exportPublic(f)))).join('\n'));
});

after(async () => {
  await home?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let fileNo = 0;
/** verifyMail, and the same message through check-mail's file reader: both must agree. */
async function check(raw: Buffer): Promise<MailVerification> {
  const r = await verifyMail(raw, keyring);
  const file = join(dir, `m${++fileNo}.eml`);
  writeFileSync(file, raw);
  const rows = [];
  for await (const row of checkMailPaths([file], keyring)) rows.push(row);
  assert.equal(rows.length, 1);
  assert.deepEqual(
    { verdict: rows[0].verdict, kind: rows[0].kind, detail: rows[0].detail, hint: rows[0].hint, keyId: rows[0].keyId, policyCode: rows[0].policyCode },
    { verdict: r.verdict, kind: r.kind, detail: r.detail, hint: r.hint, keyId: r.signingKeyId, policyCode: r.policyCode },
  );
  return r;
}

type Kind = 'pgpmime' | 'inline';
const mail = (kind: Kind, key: string, digest: GpgDigest): Promise<Buffer> =>
  kind === 'pgpmime' ? pgpMimeAt(home, fpr[key], COMMAND, { digest }) : inlineWith(home, fpr[key], COMMAND, digest);

function assertWeakHash(r: MailVerification, kind: Kind, hash: string, label: RegExp): void {
  const why = `${r.verdict}: ${r.detail} / ${r.hint}`;
  assert.equal(r.kind, kind, why);
  assert.equal(r.verdict, 'weak', why);
  assert.equal(r.hashAlgorithm, hash, why);
  // The policy's code, not only words: check-mail prints it and callers branch on it.
  assert.equal(r.policyCode, 'POLICY_HASH_REFUSED', why);
  assert.match(r.detail, label, why);
  assert.match(r.hint ?? '', HASH_FIX, why);
  assert.doesNotMatch(r.hint ?? '', TAMPER_HINT, why);
  assert.equal(r.signedText, null, 'a refused signature authenticates no text');
  assert.equal(r.authorises, false);
}

for (const kind of ['pgpmime', 'inline'] as const) {
  describe(`${kind}: hashes the policy refuses`, () => {
    const refused: Array<[GpgDigest, string, RegExp]> = [
      ['RIPEMD160', 'ripemd160', /RIPEMD-160/],
      ['SHA1', 'sha1', /SHA-1/],
      ['MD5', 'md5', /MD5/],
    ];
    for (const [digest, hash, label] of refused) {
      for (const key of ['rsa3072', 'ed'] as const) {
        test(`${digest} by ${key} is weak, with the gpg.conf fix`, async () => {
          const r = await check(await mail(kind, key, digest));
          assertWeakHash(r, kind, hash, label);
          assert.equal(r.signingKeyId, fpr[key].slice(-16));
        });
      }
    }

    test('SHA-224: good with RSA-3072; weak with Ed25519 (RFC 9580 needs 256 bits), never bad', async () => {
      const rsa = await check(await mail(kind, 'rsa3072', 'SHA224'));
      assert.equal(rsa.verdict, 'good', rsa.detail);
      assert.equal(rsa.hashAlgorithm, 'sha224');
      assert.equal(rsa.signer, fpr.rsa3072);
      const ed = await check(await mail(kind, 'ed', 'SHA224'));
      assert.equal(ed.verdict, 'weak', ed.detail);
      assert.match(ed.detail, /at least 256 bits/);
      assert.match(ed.hint ?? '', HASH_FIX);
      assert.doesNotMatch(ed.hint ?? '', TAMPER_HINT);
    });

    test('SHA-256 and SHA-512 are good with every accepted key', async () => {
      for (const key of ['rsa3072', 'ed', 'ecdsa'] as const) {
        for (const digest of ['SHA256', 'SHA512'] as const) {
          const r = await check(await mail(kind, key, digest));
          assert.equal(r.verdict, 'good', `${key} ${digest}: ${r.detail}`);
          assert.equal(r.signer, fpr[key]);
          assert.equal(r.hashAlgorithm, digest.toLowerCase());
          assert.equal(r.authorises, true);
        }
      }
    });
  });

  describe(`${kind}: keys the policy refuses`, () => {
    test('DSA-1024 is weak whatever the hash, and says DSA', async () => {
      const r = await check(await mail(kind, 'dsa', 'SHA256'));
      assert.equal(r.verdict, 'weak', r.detail);
      assert.match(r.detail, /DSA/);
      assert.equal(r.publicKeyAlgorithm, 'dsa');
      assert.match(r.hint ?? '', /Ed25519/);
      assert.doesNotMatch(r.hint ?? '', TAMPER_HINT);
      assert.equal(r.signedText, null);
    });

    test('a key valid only through a RIPEMD-160 self-signature is weak, not bad', async () => {
      const r = await check(await mail(kind, 'oldSelfSig', 'SHA256'));
      assert.equal(r.verdict, 'weak', r.detail);
      assert.match(r.detail, /valid only through a signature the policy refuses.*RIPEMD/);
      assert.equal(r.signer, fpr.oldSelfSig);
      assert.match(r.hint ?? '', /Ed25519/);
      assert.doesNotMatch(r.hint ?? '', TAMPER_HINT);
      assert.equal(r.signedText, null);
    });

    test('RSA-1024 is weak and names the size', async () => {
      const r = await check(await mail(kind, 'rsa1024', 'SHA256'));
      assert.equal(r.verdict, 'weak', r.detail);
      assert.match(r.detail, /RSA 1024 bits is below the minimum of 2048/);
      assert.equal(r.signer, fpr.rsa1024, 'names the key the signature claims');
      assert.doesNotMatch(r.hint ?? '', TAMPER_HINT);
      assert.equal(r.signedText, null);
    });
  });

  describe(`${kind}: v3 signature packets`, () => {
    test('a v3 packet is weak: hash and algorithm reported, "re-sign with a current OpenPGP client"', async () => {
      const raw = await replaceSignature(await mail(kind, 'rsa3072', 'SHA256'), toV3);
      const r = await check(raw);
      assert.equal(r.kind, kind);
      assert.equal(r.verdict, 'weak', r.detail);
      assert.match(r.detail, /v3 signatures are not accepted/);
      assert.match(r.hint ?? '', /re-sign with a current OpenPGP client/i);
      assert.equal(r.signatureVersion, 3);
      assert.equal(r.hashAlgorithm, 'sha256');
      assert.equal(r.publicKeyAlgorithm, 'rsaEncryptSign');
      assert.equal(r.signingKeyId, fpr.rsa3072.slice(-16));
      assert.ok(r.signatureCreated instanceof Date);
      assert.equal(r.unsupported, 'signature-version');
    });
  });
}
