/**
 * The node:crypto signer (src/pgp/fast-sign.ts) against the two readers that
 * matter: openpgp.js, whose bytes it must reproduce exactly (deterministic
 * Ed25519, salt left out, one time), and GnuPG, which must verify what it
 * makes as the bot sends it (with the salt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { fastSignerFor } from '../../src/pgp/fast-sign.js';
import { signerFromKey } from '../../src/pgp/botkey.js';
import { signConfig } from '../../src/policy/index.js';
import { makeGpgHome } from '../harness/gpg.js';

const config = signConfig();
const deterministic = { ...config, nonDeterministicSignaturesViaNotation: false };

async function edKey(): Promise<openpgp.PrivateKey> {
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Bot', email: 'bot@example.org' }],
    format: 'object', config: { v6Keys: false } });
  return privateKey;
}

test('byte for byte what openpgp.js makes, for any text and any bytes (salt left out, same time)', async () => {
  const key = await edKey();
  const fast = await fastSignerFor(key, config);
  assert.ok(fast, 'an Ed25519 v4 key gets the fast signer');
  // Texts with the characters the normalisation and dash-escaping act on.
  const text = fc.array(fc.constantFrom('a', 'é', '€', ' ', '\t', '\r', '\n', '-', 'From ', '- ', '\u{1F600}'), { minLength: 1, maxLength: 60 }).map((a) => a.join(''));
  await fc.assert(fc.asyncProperty(text, fc.uint8Array({ maxLength: 300 }), fc.integer({ min: Math.ceil(Date.now() / 1000), max: 4_000_000_000 }),
    async (t, bytes, secs) => {
      const at = new Date(secs * 1000);
      const clear = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: t }), signingKeys: key, date: at, format: 'armored', config: deterministic });
      assert.equal(fast.signCleartext(t, at, null), clear);
      const detached = (await openpgp.sign({ message: await openpgp.createMessage({ binary: bytes }), signingKeys: key, detached: true, date: at,
        format: 'armored', config: deterministic })) as string;
      assert.equal(fast.signDetached(bytes, at, null), detached);
    }), { numRuns: 150 });
});

test('what the bot sends (salted) verifies in GnuPG and in openpgp.js', async () => {
  const key = await edKey();
  const signer = signerFromKey(key);
  const gpg = await makeGpgHome();
  try {
    await gpg.importKeys(signer.publicArmored);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zfast-'));
    const data = Buffer.from('Content-Type: text/plain; charset=utf-8\r\n\r\nStatus: found\r\n-- \r\nünïcode\r\n', 'utf8');
    const { armored, hash } = await signer.signDetached(data);
    assert.equal(hash, 'sha512');
    assert.ok(armored.startsWith('-----BEGIN PGP SIGNATURE-----\n\n'));
    writeFileSync(path.join(dir, 'data'), data);
    writeFileSync(path.join(dir, 'data.asc'), armored);
    const v1 = await gpg.run(['--status-fd', '1', '--verify', path.join(dir, 'data.asc'), path.join(dir, 'data')]);
    assert.equal(v1.code, 0, v1.stderr);
    assert.match(v1.stdout.toString(), /\[GNUPG:\] GOODSIG /);
    assert.match(v1.stdout.toString(), new RegExp(`\\[GNUPG:\\] VALIDSIG ${signer.fingerprint} .* 00 ${signer.fingerprint}`));

    const text = 'Status: found\n- a dash line\ntrailing space   \nFrom the start\n';
    const clear = await signer.signCleartext(text);
    writeFileSync(path.join(dir, 'clear.asc'), clear);
    const v2 = await gpg.run(['--status-fd', '1', '--verify', path.join(dir, 'clear.asc')]);
    assert.equal(v2.code, 0, v2.stderr);
    assert.match(v2.stdout.toString(), new RegExp(`\\[GNUPG:\\] VALIDSIG ${signer.fingerprint} .* 01 ${signer.fingerprint}`), 'a text (0x01) signature');

    const pub = key.toPublic();
    const r = await openpgp.verify({ message: await openpgp.readCleartextMessage({ cleartextMessage: clear }), verificationKeys: pub, expectSigned: true });
    assert.equal(r.data, 'Status: found\n- a dash line\ntrailing space\nFrom the start\n');
    // Two signatures of one text differ (the salt), as openpgp.js's do.
    assert.notEqual(await signer.signCleartext(text), clear);
  } finally {
    await gpg.cleanup();
  }
});

test('any other key is signed by openpgp.js: RSA, and a v6 Ed25519 key', async () => {
  const { privateKey: rsa } = await openpgp.generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ email: 'bot@example.org' }], format: 'object' });
  assert.equal(await fastSignerFor(rsa, config), null);
  const { privateKey: v6 } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'bot@example.org' }], format: 'object', config: { v6Keys: true } });
  assert.equal(await fastSignerFor(v6, config), null);
  // ... and the bot still signs with them.
  const signer = signerFromKey(rsa);
  const clear = await signer.signCleartext('Status: found\n');
  const r = await openpgp.verify({ message: await openpgp.readCleartextMessage({ cleartextMessage: clear }), verificationKeys: rsa.toPublic(), expectSigned: true });
  assert.equal(r.data, 'Status: found\n');
});

test('a key still locked by its passphrase gets no fast signer (nothing to sign with)', async () => {
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'bot@example.org' }], passphrase: 'pw',
    format: 'object', config: { v6Keys: false } });
  assert.equal(await fastSignerFor(privateKey, config), null);
});

test('past the key\'s expiry the bot signs through openpgp.js again, which refuses an expired key', async () => {
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'bot@example.org' }],
    keyExpirationTime: 2, format: 'object', config: { v6Keys: false } });
  const fast = await fastSignerFor(privateKey, config);
  assert.ok(fast);
  assert.equal(fast.expires, privateKey.getCreationTime().getTime() + 2000);
  const signer = signerFromKey(privateKey);
  await signer.signCleartext('Status: found\n'); // still valid
  await new Promise((r) => setTimeout(r, Math.max(0, fast.expires - Date.now()) + 200));
  await assert.rejects(signer.signCleartext('Status: found\n'), /expired|no valid signing key|Could not find/i);
  await assert.rejects(signer.signDetached(Buffer.from('x')), /expired|no valid signing key|Could not find/i);
});
