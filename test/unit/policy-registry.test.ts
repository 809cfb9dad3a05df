/**
 * Every OpenPGP hash algorithm id and public-key algorithm id (RFC 9580
 * tables 18 and 23, ids 0-255) gets the verdict the policy says, id by id:
 *
 * 1. the registry functions in src/policy/ and their verdict codes (the
 *    expected values are written out here from the RFC, not computed from
 *    the code); X.509 signature algorithms are in policy-x509.test.ts;
 * 2. openpgp.js's own reject lists are at least as strict as the policy;
 * 3. the config schema knows exactly the registry's hash names;
 * 4. verifyMail on signature packets patched by hand (a real gpg Ed25519
 *    signature with one octet changed), PGP/MIME and inline: a refused id is
 *    'weak', an unknown, reserved or non-signing one 'malformed'; never
 *    'good', never the "changed after it was signed" hint;
 * 5. real signatures for ids GnuPG 2.2 cannot make (SHA3-256, SHA3-512,
 *    Ed25519 and Ed448 v6 keys), made by openpgp.js, are good.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { configSchema } from '../../src/config/schema.js';
import {
  DEFAULT_CRYPTO_POLICY, HASH_ALGORITHMS, HASH_NAMES, hashName, judgeHashId, judgePublicKeyId,
  isFutureDated, judgeKeyAlgorithm, judgeSignatureAlgorithms, judgeSignatureTime, latestAcceptedDate, messageVerifyConfig, publicKeyName,
  POLICY_CODES, isAlgorithmCode, isTimeCode, type AlgorithmJudgement, type PolicyCode,
} from '../../src/policy/index.js';
import { inlineWith, patchSignatureIds, pgpMimeAt, replaceSignature, wrapPgpMime } from './verify-gpg-mail.js';

const ALL_IDS = Array.from({ length: 256 }, (_, i) => i);
const COMMAND = 'APPROVE ZT-000042 3f1d2c\n';

// RFC 9580 table 23, with the default policy's decision.
const HASH_EXPECTED: Record<number, { name: string; use: 'accepted' | 'refused' }> = {
  1: { name: 'md5', use: 'refused' },
  2: { name: 'sha1', use: 'refused' },
  3: { name: 'ripemd160', use: 'refused' },
  8: { name: 'sha256', use: 'accepted' },
  9: { name: 'sha384', use: 'accepted' },
  10: { name: 'sha512', use: 'accepted' },
  11: { name: 'sha224', use: 'accepted' },
  12: { name: 'sha3_256', use: 'accepted' },
  14: { name: 'sha3_512', use: 'accepted' },
};
const RESERVED_HASH = [4, 5, 6, 7, 13];

// RFC 9580 table 18: what the id alone settles for a signature.
const PK_EXPECTED: Record<number, { name: string; use: 'accepted' | 'refused' | 'unsupported' }> = {
  1: { name: 'rsaEncryptSign', use: 'accepted' },
  2: { name: 'rsaEncrypt', use: 'unsupported' }, // encrypt-only: cannot sign
  3: { name: 'rsaSign', use: 'accepted' },
  16: { name: 'elgamal', use: 'refused' },
  17: { name: 'dsa', use: 'refused' },
  18: { name: 'ecdh', use: 'unsupported' },
  19: { name: 'ecdsa', use: 'accepted' },
  20: { name: 'elgamalEncryptSign', use: 'refused' },
  22: { name: 'eddsaLegacy', use: 'accepted' },
  25: { name: 'x25519', use: 'unsupported' },
  26: { name: 'x448', use: 'unsupported' },
  27: { name: 'ed25519', use: 'accepted' },
  28: { name: 'ed448', use: 'accepted' },
};
const RESERVED_PK = [21, 23, 24];
const codeOf = (j: AlgorithmJudgement) => (j.use === 'accepted' ? 'POLICY_ACCEPTED' : j.code);
const isPrivate = (id: number) => id >= 100 && id <= 110;

describe('the registries, id by id', () => {
  test('hash ids 0-255', () => {
    for (const id of ALL_IDS) {
      const j = judgeHashId(DEFAULT_CRYPTO_POLICY, id);
      const want = HASH_EXPECTED[id];
      if (want) {
        assert.equal(hashName(id), want.name, `hash ${id}`);
        assert.equal(j.use, want.use, `hash ${id}`);
        assert.equal(codeOf(j), want.use === 'refused' ? 'POLICY_HASH_REFUSED' : 'POLICY_ACCEPTED', `hash ${id}`);
      } else {
        assert.equal(hashName(id), `hash-${id}`);
        assert.equal(j.use, 'unsupported', `hash ${id}`);
        assert.equal(codeOf(j), 'POLICY_HASH_UNKNOWN', `hash ${id}`);
        const reason = j.use === 'unsupported' ? j.reason : '';
        if (RESERVED_HASH.includes(id)) assert.match(reason, /reserved/, `hash ${id}`);
        else if (isPrivate(id)) assert.match(reason, /private\/experimental/, `hash ${id}`);
        else assert.match(reason, /not assigned/, `hash ${id}`);
      }
    }
  });

  test('public-key ids 0-255', () => {
    for (const id of ALL_IDS) {
      const j = judgePublicKeyId(id);
      const want = PK_EXPECTED[id];
      if (want) {
        assert.equal(publicKeyName(id), want.name, `pk ${id}`);
        assert.equal(j.use, want.use, `pk ${id}`);
        if (want.use === 'unsupported') assert.match(j.use !== 'accepted' ? j.reason : '', /cannot make signatures/);
        const code = { accepted: 'POLICY_ACCEPTED', refused: 'POLICY_PK_REFUSED', unsupported: 'POLICY_PK_CANNOT_SIGN' }[want.use];
        assert.equal(codeOf(j), code, `pk ${id}`);
      } else {
        assert.equal(publicKeyName(id), `publickey-${id}`);
        assert.equal(j.use, 'unsupported', `pk ${id}`);
        assert.equal(codeOf(j), 'POLICY_PK_UNKNOWN', `pk ${id}`);
        const reason = j.use === 'unsupported' ? j.reason : '';
        if (RESERVED_PK.includes(id)) assert.match(reason, /reserved/, `pk ${id}`);
        else if (isPrivate(id)) assert.match(reason, /private\/experimental/, `pk ${id}`);
        else assert.match(reason, /not assigned/, `pk ${id}`);
      }
    }
  });

  test('a signature: version, algorithm, hash, and the hash size an EdDSA key needs', () => {
    const judge = (version: number, publicKeyId: number, hashId: number) =>
      judgeSignatureAlgorithms(DEFAULT_CRYPTO_POLICY, { version, publicKeyId, hashId });
    const verdictOf = (j: ReturnType<typeof judge>) => (j.ok ? 'ok' : `${j.verdict}:${j.rule}`);
    const codeOfSig = (j: ReturnType<typeof judge>) => (j.ok ? 'POLICY_ACCEPTED' : j.code);
    assert.equal(codeOfSig(judge(4, 1, 8)), 'POLICY_ACCEPTED');
    assert.equal(codeOfSig(judge(3, 1, 8)), 'POLICY_SIG_VERSION_REFUSED');
    assert.equal(codeOfSig(judge(5, 1, 8)), 'POLICY_SIG_VERSION_UNKNOWN');
    assert.equal(codeOfSig(judge(4, 17, 8)), 'POLICY_PK_REFUSED');
    assert.equal(codeOfSig(judge(4, 18, 8)), 'POLICY_PK_CANNOT_SIGN');
    assert.equal(codeOfSig(judge(4, 99, 8)), 'POLICY_PK_UNKNOWN');
    assert.equal(codeOfSig(judge(4, 1, 2)), 'POLICY_HASH_REFUSED');
    assert.equal(codeOfSig(judge(4, 1, 13)), 'POLICY_HASH_UNKNOWN');
    assert.equal(codeOfSig(judge(6, 28, 8)), 'POLICY_HASH_TOO_SHORT');
    assert.equal(verdictOf(judge(4, 1, 8)), 'ok');
    assert.equal(verdictOf(judge(6, 27, 12)), 'ok');
    assert.equal(verdictOf(judge(3, 1, 8)), 'weak:signature-version');
    assert.equal(verdictOf(judge(5, 1, 8)), 'malformed:signature-version');
    assert.equal(verdictOf(judge(2, 1, 8)), 'malformed:signature-version');
    assert.equal(verdictOf(judge(7, 1, 8)), 'malformed:signature-version');
    assert.equal(verdictOf(judge(4, 17, 8)), 'weak:public-key-algorithm');
    assert.equal(verdictOf(judge(4, 18, 8)), 'malformed:public-key-algorithm');
    assert.equal(verdictOf(judge(4, 1, 3)), 'weak:hash-algorithm');
    assert.equal(verdictOf(judge(4, 1, 13)), 'malformed:hash-algorithm');
    // RFC 9580 5.2.3.4/5.2.3.5: Ed25519 needs 256 bits of hash, Ed448 512.
    assert.equal(verdictOf(judge(4, 22, 11)), 'weak:hash-algorithm');
    assert.equal(verdictOf(judge(6, 27, 11)), 'weak:hash-algorithm');
    assert.equal(verdictOf(judge(6, 28, 8)), 'weak:hash-algorithm');
    assert.equal(verdictOf(judge(6, 28, 14)), 'ok');
    assert.equal(verdictOf(judge(4, 1, 11)), 'ok');
    // Each refusal names its fix.
    const sha1 = judge(4, 1, 2);
    assert.ok(!sha1.ok && /personal-digest-preferences SHA512/.test(sha1.fix));
    const v3 = judge(3, 1, 8);
    assert.ok(!v3.ok && /v3 signatures are not accepted/.test(v3.reason) && /Re-sign with a current OpenPGP client/.test(v3.fix));
    const dsa = judge(4, 17, 8);
    assert.ok(!dsa.ok && /DSA keys are no longer accepted/.test(dsa.reason) && /ed25519/.test(dsa.fix));
  });

  test('the policy follows its configuration: refusing SHA-224 refuses id 11', () => {
    const strict = { ...DEFAULT_CRYPTO_POLICY, rejectHashes: [...DEFAULT_CRYPTO_POLICY.rejectHashes, 'sha224'] };
    assert.equal(judgeHashId(strict, 11).use, 'refused');
    assert.equal(codeOf(judgeHashId(strict, 11)), 'POLICY_HASH_REFUSED');
    assert.ok(messageVerifyConfig(strict).rejectMessageHashAlgorithms.has(11));
  });

  test("openpgp.js's reject lists are at least as strict as the policy", () => {
    const cfg = messageVerifyConfig(DEFAULT_CRYPTO_POLICY);
    for (const id of ALL_IDS) {
      if (judgeHashId(DEFAULT_CRYPTO_POLICY, id).use === 'refused') {
        assert.ok(cfg.rejectMessageHashAlgorithms.has(id), `message hash ${id}`);
      }
      if (judgePublicKeyId(id).use === 'refused' && Object.values(openpgp.enums.publicKey).includes(id)) {
        assert.ok(cfg.rejectPublicKeyAlgorithms.has(id), `public-key ${id}`);
      }
    }
    // Key self-signatures: MD5 and RIPEMD-160 refused; SHA-1 left to the audit (old keys carry it).
    assert.deepEqual([...cfg.rejectHashAlgorithms].sort(), [1, 3]);
    assert.ok(cfg.minRSABits >= DEFAULT_CRYPTO_POLICY.minRsaBits);
    assert.ok(cfg.rejectCurves.has(openpgp.enums.curve.secp256k1), 'secp256k1 is not in the policy');
    for (const c of cfg.rejectCurves) assert.ok(!DEFAULT_CRYPTO_POLICY.allowedCurves.includes(c), c);
  });

  test('the config schema knows exactly the registry hash names', () => {
    assert.deepEqual([...HASH_NAMES].sort(), HASH_ALGORITHMS.map((h) => h.name).sort());
    const policySchema = configSchema.shape.policy;
    const policy = (rejectHashes: string[]) => policySchema.safeParse({ rejectHashes });
    for (const name of HASH_NAMES) assert.ok(policy([name]).success, name);
    for (const name of ['ripemd', 'sha-1', 'SHA1', 'sha3-256', 'blake2']) assert.ok(!policy([name]).success, name);
    assert.deepEqual(policySchema.parse({}).rejectHashes, DEFAULT_CRYPTO_POLICY.rejectHashes);
  });
});

// ---------------------------------------------------------------------------

let home: GpgHome;
let keyring: Keyring;
let edFpr: string;
const base: Record<'pgpmime' | 'inline', Buffer> = {} as never;

before(async () => {
  home = await makeGpgHome();
  edFpr = await home.genKey('Ed <ed@example.org>', { algo: 'ed25519', encryptSubkey: false });
  keyring = await Keyring.fromArmored(await home.exportPublic(edFpr));
  base.pgpmime = await pgpMimeAt(home, edFpr, COMMAND, { digest: 'SHA512' });
  base.inline = await inlineWith(home, edFpr, COMMAND, 'SHA512');
});

after(async () => {
  await home?.cleanup();
});

type Expect = 'good' | 'bad' | 'weak' | 'malformed';

/** The verdict for a real Ed25519 (EdDSALegacy, SHA2-512) gpg signature with its hash-id octet set to `id`. */
function hashPatchExpect(id: number): Expect {
  if (id === 10) return 'good'; // unchanged
  const want = HASH_EXPECTED[id];
  if (!want) return 'malformed';
  if (want.use === 'refused') return 'weak';
  if (id === 11) return 'weak'; // SHA2-224 is too short for Ed25519
  return 'bad'; // an accepted hash: the octet is hashed, so this signature was genuinely altered
}

/** The same with the public-key-id octet set to `id` (the key stays Ed25519). */
function pkPatchExpect(id: number): Expect {
  if (id === 22) return 'good'; // unchanged
  const want = PK_EXPECTED[id];
  if (!want || want.use === 'unsupported') return 'malformed';
  if (want.use === 'refused') return 'weak';
  return 'bad'; // an accepted algorithm that is not this key's: an altered signature
}

for (const kind of ['pgpmime', 'inline'] as const) {
  describe(`${kind}: crafted signature packets, every id`, () => {
    for (const [octet, expect] of [['hash', hashPatchExpect], ['publicKey', pkPatchExpect]] as const) {
      test(`${octet} ids 0-255`, async () => {
        const counts: Record<string, number> = {};
        for (const id of ALL_IDS) {
          const raw = await replaceSignature(base[kind], (bin) => patchSignatureIds(bin, { [octet]: id }));
          const r = await verifyMail(raw, keyring);
          const why = `${octet} id ${id}: ${r.verdict} - ${r.detail} / ${r.hint}`;
          const want = expect(id);
          counts[want] = (counts[want] ?? 0) + 1;
          assert.equal(r.kind, kind, why);
          assert.equal(r.verdict, want, why);
          assert.ok(r.detail.length > 0 && (r.hint !== null) === (want !== 'good'), why);
          if (want === 'weak' || want === 'malformed') {
            assert.doesNotMatch(r.hint ?? '', /changed after it was signed/, why);
            assert.equal(r.signedText, null, why);
            assert.equal(r.signingKeyId, edFpr.slice(-16), why);
            if (octet === 'hash') assert.equal(r.hashAlgorithm, hashName(id), why);
            else assert.equal(r.publicKeyAlgorithm, publicKeyName(id), why);
          }
          if (want === 'malformed') assert.equal(r.unsupported, octet === 'hash' ? 'hash-algorithm' : 'public-key-algorithm', why);
          if (want === 'weak') assert.equal(r.unsupported, null, why);
          // Weak and malformed come from the policy's judgement of the packet, with its code; good and bad carry none.
          if (want === 'weak' || want === 'malformed') assert.match(r.policyCode ?? '', /^POLICY_/, why);
          else assert.equal(r.policyCode, null, why);
        }
        // The table above really exercised every kind of verdict.
        assert.ok(counts.good === 1 && counts.weak >= 3 && counts.bad >= 3 && counts.malformed > 200, JSON.stringify(counts));
      });
    }
  });
}

describe('real signatures for ids GnuPG 2.2 cannot make (made by openpgp.js)', () => {
  const cases: Array<[string, 'ecc' | 'curve25519' | 'curve448', openpgp.enums.hash, number]> = [
    ['EdDSALegacy v4 key, SHA3-512', 'ecc', openpgp.enums.hash.sha3_512, 22],
    ['Ed25519 v6 key, SHA3-256', 'curve25519', openpgp.enums.hash.sha3_256, 27],
    ['Ed448 v6 key, SHA3-512', 'curve448', openpgp.enums.hash.sha3_512, 28],
  ];
  for (const [name, type, hash, pk] of cases) {
    test(`${name} is good`, async () => {
      const { privateKey, publicKey } = await openpgp.generateKey({
        type, ...(type === 'ecc' ? { curve: 'ed25519Legacy' as const } : {}), config: { v6Keys: type !== 'ecc' },
        userIDs: [{ name: 'Js', email: 'js@example.org' }], format: 'object',
      });
      const inner = 'Content-Type: text/plain; charset=UTF-8\r\n\r\n' + COMMAND.replace(/\n/g, '\r\n');
      // openpgp's .d.ts names the uninstalled @openpgp/web-stream-tools: say what a non-stream message gives.
      const signature = (await openpgp.sign({
        message: await openpgp.createMessage({ binary: Buffer.from(inner, 'latin1') }),
        signingKeys: privateKey, detached: true, format: 'armored', config: { preferredHashAlgorithm: hash },
      })) as string;
      const ring = await Keyring.fromArmored(publicKey.armor());
      const r = await verifyMail(wrapPgpMime(inner, signature, `pgp-${hashName(hash).replace('_', '-')}`), ring);
      assert.equal(r.verdict, 'good', r.detail);
      assert.equal(r.hashAlgorithm, hashName(hash));
      assert.equal(r.publicKeyAlgorithm, publicKeyName(pk));
      assert.equal(r.signer, publicKey.getFingerprint().toUpperCase());
      assert.equal(r.authorises, true);
    });
  }
});

describe('keys and signature times, each with its code', () => {
  const P = DEFAULT_CRYPTO_POLICY;
  const keyCode = (info: { algorithm: string; bits?: number; curve?: string }) => {
    const j = judgeKeyAlgorithm(P, info);
    return j.ok ? (j.warning ? 'warning' : 'POLICY_ACCEPTED') : j.code;
  };
  test('key algorithm, size and curve', () => {
    assert.equal(keyCode({ algorithm: 'rsaEncryptSign', bits: 1024 }), 'POLICY_RSA_TOO_SHORT');
    assert.equal(keyCode({ algorithm: 'rsaEncryptSign', bits: 2048 }), 'warning');
    assert.equal(keyCode({ algorithm: 'rsaSign', bits: 3072 }), 'POLICY_ACCEPTED');
    assert.equal(keyCode({ algorithm: 'dsa', bits: 2048 }), 'POLICY_PK_REFUSED');
    assert.equal(keyCode({ algorithm: 'elgamal', bits: 2048 }), 'POLICY_PK_REFUSED');
    assert.equal(keyCode({ algorithm: 'ecdsa', curve: 'nistP256' }), 'POLICY_ACCEPTED');
    assert.equal(keyCode({ algorithm: 'ecdsa', curve: 'brainpoolP384r1' }), 'POLICY_ACCEPTED');
    assert.equal(keyCode({ algorithm: 'ecdsa', curve: 'secp256k1' }), 'POLICY_CURVE_REFUSED');
    assert.equal(keyCode({ algorithm: 'eddsaLegacy', curve: 'ed25519' }), 'POLICY_ACCEPTED');
    assert.equal(keyCode({ algorithm: 'ed448', curve: 'ed448' }), 'POLICY_ACCEPTED');
    assert.equal(keyCode({ algorithm: 'publickey-99' }), 'POLICY_PK_UNKNOWN');
  });
  test('clock skew and signature age: one bound for every caller', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const at = (s: number) => new Date(now.getTime() + s * 1000);
    const timeCode = (s: number, stateChanging: boolean) => {
      const t = judgeSignatureTime(P, at(s), now, stateChanging);
      return t.ok ? 'POLICY_ACCEPTED' : t.code;
    };
    assert.equal(timeCode(300, true), 'POLICY_ACCEPTED');
    assert.equal(timeCode(301, false), 'POLICY_TIME_FUTURE');
    assert.equal(timeCode(-7 * 24 * 3600, true), 'POLICY_ACCEPTED');
    assert.equal(timeCode(-7 * 24 * 3600 - 1, true), 'POLICY_TIME_TOO_OLD');
    assert.equal(timeCode(-365 * 24 * 3600, false), 'POLICY_ACCEPTED');
    assert.equal(isFutureDated(P, at(300), now), false);
    assert.equal(isFutureDated(P, at(301), now), true);
    assert.equal(isFutureDated(P, null, now), false);
    assert.equal(latestAcceptedDate(P, now).getTime(), at(300).getTime());
  });
});

test('the policy code catalogue is fixed: audit, replies and check-mail branch on these names', () => {
  assert.deepEqual(Object.keys(POLICY_CODES), [
    'POLICY_SIG_VERSION_REFUSED', 'POLICY_SIG_VERSION_UNKNOWN', 'POLICY_HASH_REFUSED', 'POLICY_HASH_UNKNOWN', 'POLICY_HASH_TOO_SHORT',
    'POLICY_PK_REFUSED', 'POLICY_PK_UNKNOWN', 'POLICY_PK_CANNOT_SIGN', 'POLICY_RSA_TOO_SHORT', 'POLICY_RSA_BELOW_RECOMMENDED',
    'POLICY_CURVE_REFUSED', 'POLICY_KEY_FORGEABLE', 'POLICY_TIME_FUTURE', 'POLICY_TIME_TOO_OLD', 'X509_UNREADABLE', 'X509_SIG_ALG_UNKNOWN', 'X509_NOT_V3',
    'X509_NOT_CA', 'X509_NO_KEY_CERT_SIGN', 'X509_NOT_YET_VALID', 'X509_EXPIRED', 'X509_SELF_SIGNATURE_BAD',
  ]);
  // Each sorts into exactly one audit class: weak algorithm, time, or structure.
  for (const code of Object.keys(POLICY_CODES) as PolicyCode[]) assert.ok(!(isAlgorithmCode(code) && isTimeCode(code)), code);
});
