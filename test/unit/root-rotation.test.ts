/**
 * Rotating the bot's key through the trust root (issue 12, item 3): the
 * waiting key (keys/bot-next.key) becomes the bot's key only once the
 * current root names it; the old key is kept retired; the next digest is
 * signed by both keys (checked by GnuPG, which must report two good
 * signatures, and by verify-digest with either key alone); later digests
 * by the new key alone; a crash part-way through the swap is finished by
 * the next start. The roots here are written straight into the collection
 * (their approvals are root-chain.test.ts's and root-mail.test.ts's part).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { initDataDir } from '../../src/app/init.js';
import { openApp, type App } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import { Collection } from '../../src/collection/collection.js';
import { dataLayout } from '../../src/datadir.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { formatRoot, rootDigest, type RootDocument } from '../../src/root/document.js';
import { rootVersionFiles } from '../../src/root/files.js';
import { currentRootOf } from '../../src/root/draft.js';
import { rootStanding } from '../../src/root/start.js';
import { keyFileFingerprint, nextBotKey, promoteBotKey, retiredKeyFile } from '../../src/root/rotation.js';
import { digestSigners, rotationPending, runDigestCycle } from '../../src/digest/run.js';
import { DigestArchive } from '../../src/digest/archive.js';
import { verifyDigest } from '../../src/digest/verify-digest.js';
import { PgpError } from '../../src/errors.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { makeGpgHome } from '../harness/gpg.js';
import { readWithPython } from '../harness/mailcheck.js';

const PASS = 'rotation-test-passphrase';
const MAINT = ['A'.repeat(40), 'B'.repeat(40)];
const dirs: string[] = [];
const apps: App[] = [];
after(async () => {
  for (const a of apps) await a.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup(): Promise<{ cfg: LoadedConfig; vkey: string; botFpr: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zrot-'));
  dirs.push(dir);
  process.env.ZTRUST_ROTATION_TEST_PASS = PASS;
  const init = await initDataDir({
    dataDir: path.join(dir, 'data'), address: 'bot@example.org', name: 'ztrust-bot', origin: 'rotation.test/log', passphrase: PASS,
    extra: {
      bot: { address: 'bot@example.org', name: 'ztrust-bot', keyFile: 'keys/bot.key', keyPassphraseEnv: 'ZTRUST_ROTATION_TEST_PASS' },
      lists: [{ listId: 'linux-390.example.org', address: 'linux-390@example.org', postDigests: true }],
      digest: { recipients: ['ops@example.org'] },
      maintainers: MAINT, threshold: 2,
    },
  });
  return { cfg: init.config, vkey: init.logVerifierKey, botFpr: init.botFingerprint };
}

async function open(cfg: LoadedConfig): Promise<App> {
  const app = await openApp(cfg, silentLogger);
  apps.push(app);
  return app;
}

/** Publish root version `version` naming `botKey` (committed as the apply step would, without approvals). */
async function publishRoot(cfg: LoadedConfig, vkey: string, version: number, botKey: string): Promise<void> {
  const dir = dataLayout(cfg.dataDir).collection;
  const prev = currentRootOf(dir);
  const now = new Date();
  const doc: RootDocument = {
    version, issued: now, expires: new Date(now.getTime() + 365 * 86400_000), threshold: 2, maintainers: MAINT,
    botKey, logOrigin: cfg.log.origin, logKey: vkey, previous: prev ? prev.digest : null,
  };
  const text = formatRoot(doc);
  const col = await Collection.open(dir, { committer: { name: 'test', email: 'test@example.org' } });
  await col.apply((c) => c.putRootFiles(rootVersionFiles(version, text, rootDigest(text), [])), { message: `Root version ${version}`, signer: null });
}

/** One collection change in the log, so that a digest has something to list. */
async function logKeyAdded(app: App, c: string, maintainer: number, time: string): Promise<void> {
  await (await app.log.get()).appendEntries([{ type: 'key-added', subject: c.repeat(40), signers: [MAINT[maintainer]], time, source: (c === 'D' ? 'a' : 'b').repeat(64) }]);
}

/** A bot key, locked with the bot's passphrase, that signs with a signing subkey (as an operator may make one). */
async function subkeySigningKey(): Promise<string> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'ztrust-bot', email: 'bot@example.org' }], passphrase: PASS,
    subkeys: [{}, { sign: true }], format: 'armored', config: { v6Keys: false },
  });
  return privateKey;
}

const signedCount = (status: string): string[] =>
  status.split('\n').filter((l) => l.startsWith('[GNUPG:] VALIDSIG ')).map((l) => l.split(' ')[l.split(' ').length - 1].trim());

describe('the waiting bot key and the root', () => {
  test('nextBotKey makes the key once and reuses it; it never overwrites an unreadable file', async () => {
    const { cfg } = await setup();
    const a = await nextBotKey(cfg, PASS);
    assert.equal(a.made, true);
    const b = await nextBotKey(cfg, PASS);
    assert.deepEqual(b, { fingerprint: a.fingerprint, made: false });
    writeFileSync(dataLayout(cfg.dataDir).botKeyNext, 'not a key\n');
    await assert.rejects(nextBotKey(cfg, PASS), (e: unknown) => e instanceof PgpError && /holds no readable key/.test(e.message));
    assert.equal(readFileSync(dataLayout(cfg.dataDir).botKeyNext, 'utf8'), 'not a key\n');
  });

  test('a waiting key is not used until a root names it; a root naming another key is a mismatch that says where the key goes', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const layout = dataLayout(cfg.dataDir);
    const next = await nextBotKey(cfg, PASS);
    // Unrooted: nothing moves.
    assert.equal(await promoteBotKey(cfg, PASS), null);
    await publishRoot(cfg, vkey, 1, botFpr);
    assert.equal(await promoteBotKey(cfg, PASS), null, 'the root names the key in use');
    assert.equal(await keyFileFingerprint(layout.botKey), botFpr);
    // A root naming some third key: nothing moves; the start-up check says what to do.
    await publishRoot(cfg, vkey, 2, 'C'.repeat(40));
    assert.equal(await promoteBotKey(cfg, PASS), null);
    assert.equal(await keyFileFingerprint(layout.botKey), botFpr);
    assert.equal(await keyFileFingerprint(layout.botKeyNext), next.fingerprint);
    const standing = rootStanding(cfg, botFpr, new Date());
    assert.equal(standing.state, 'mismatch');
    assert.match(standing.state === 'mismatch' ? standing.problems.join('\n') : '', /names C{40}: put that key's private key at keys\/bot-next\.key/);
  });

  test('once the root names it, the waiting key becomes the bot key, the old one is retired, and it happens once', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const layout = dataLayout(cfg.dataDir);
    const oldPrivate = readFileSync(layout.botKey, 'utf8');
    const next = await nextBotKey(cfg, PASS);
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    assert.deepEqual(await promoteBotKey(cfg, PASS), { from: botFpr, to: next.fingerprint, version: 2 });
    assert.equal(await keyFileFingerprint(layout.botKey), next.fingerprint);
    assert.equal(await keyFileFingerprint(layout.botPublicKey), next.fingerprint);
    assert.equal(readFileSync(retiredKeyFile(cfg, botFpr), 'utf8'), oldPrivate);
    assert.equal(existsSync(layout.botKeyNext), false);
    assert.equal(await promoteBotKey(cfg, PASS), null);
    assert.equal(rootStanding(cfg, next.fingerprint, new Date()).state, 'rooted');
  });

  test('a running app switches keys even when another process promoted the key files first', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const app = await open(cfg);
    const next = await nextBotKey(cfg, PASS);
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    assert.deepEqual(await promoteBotKey(cfg, PASS), { from: botFpr, to: next.fingerprint, version: 2 }); // say, `ztrust-bot root status`
    assert.equal(app.signer.fingerprint, botFpr);
    assert.deepEqual(await app.adoptRootBotKey(), { from: botFpr, to: next.fingerprint, version: 2 });
    assert.equal(app.signer.fingerprint, next.fingerprint);
    assert.equal(await app.adoptRootBotKey(), null);
  });

  test('a crash after the key file was replaced but before the waiting file was removed is finished by the next start', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const layout = dataLayout(cfg.dataDir);
    const next = await nextBotKey(cfg, PASS);
    const nextText = readFileSync(layout.botKeyNext, 'utf8');
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    await promoteBotKey(cfg, PASS);
    writeFileSync(layout.botKeyNext, nextText); // as if the process died before removing it
    const app = await open(cfg);
    assert.equal(app.signer.fingerprint, next.fingerprint);
    assert.equal(existsSync(layout.botKeyNext), false);
    assert.deepEqual(readdirSync(layout.retiredKeys), [`${botFpr}.key`]);
  });
  test('attack: a crash after the key file was replaced but before keys/bot.pub.asc was rewritten is finished by the next start (else verify-digest and import read the old key for good)', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const layout = dataLayout(cfg.dataDir);
    const oldPublic = readFileSync(layout.botPublicKey, 'utf8');
    const next = await nextBotKey(cfg, PASS);
    const nextText = readFileSync(layout.botKeyNext, 'utf8');
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    await promoteBotKey(cfg, PASS);
    // As if the process died right after writing the key file: the public file and the waiting file are as before.
    writeFileSync(layout.botPublicKey, oldPublic);
    writeFileSync(layout.botKeyNext, nextText);
    assert.equal(await promoteBotKey(cfg, PASS), null);
    assert.equal(await keyFileFingerprint(layout.botKey), next.fingerprint);
    assert.equal(existsSync(layout.botKeyNext), false);
    assert.equal(await keyFileFingerprint(layout.botPublicKey), next.fingerprint, 'keys/bot.pub.asc still holds the retired key');
  });
  test('attack: a waiting file holding only the public key, or a key the bot cannot unlock, is never promoted: the bot keeps a key it can sign with', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const layout = dataLayout(cfg.dataDir);
    const oldPrivate = readFileSync(layout.botKey, 'utf8');
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'ztrust-bot', email: 'bot@example.org' }], passphrase: 'not the bot passphrase',
      format: 'armored', config: { v6Keys: false },
    });
    const fpr = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase();
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, fpr);
    for (const [what, text] of [['the public key', publicKey], ['a key locked with another passphrase', privateKey]]) {
      writeFileSync(layout.botKeyNext, text);
      assert.equal(await promoteBotKey(cfg, PASS), null, what);
      assert.equal(readFileSync(layout.botKey, 'utf8'), oldPrivate, `${what}: keys/bot.key was replaced`);
      assert.equal(existsSync(layout.retiredKeys) ? readdirSync(layout.retiredKeys).length : 0, 0, what);
      // The app still opens with the key it has (the start-up check reports the mismatch).
      const app = await open(cfg);
      assert.equal(app.signer.fingerprint, botFpr, what);
    }
  });
});

describe('the digest that announces a new bot key', () => {
  test('is made even with no new log entry, signed by the old key and the new; later digests by the new key alone', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const app = await open(cfg);
    const oldPublic = app.signer.publicArmored;
    await logKeyAdded(app, 'D', 0, '2026-01-02T03:04:05Z');
    const r1 = await runDigestCycle(app, { now: new Date('2026-01-05T08:00:00Z') });
    assert.equal(r1.digest?.number, 1);
    assert.equal(await rotationPending(app), false);

    // The running worker adopts the key right after the root naming it is published.
    const next = await nextBotKey(cfg, PASS);
    await publishRoot(cfg, vkey, 1, botFpr);
    assert.equal(await app.adoptRootBotKey(), null);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    assert.deepEqual(await app.adoptRootBotKey(), { from: botFpr, to: next.fingerprint, version: 2 });
    assert.equal(app.signer.fingerprint, next.fingerprint, 'the running app signs with the new key from now on');
    assert.equal(await rotationPending(app), true);
    const newPublic = app.signer.publicArmored;

    const r2 = await runDigestCycle(app, { now: new Date('2026-01-06T08:00:00Z') });
    assert.equal(r2.digest?.number, 2, 'made although the log did not grow');
    assert.equal(await rotationPending(app), false);
    const archive = new DigestArchive(dataLayout(cfg.dataDir).digests);
    const d1 = await archive.read(1);
    const d2 = await archive.read(2);
    assert.deepEqual((await digestSigners(d2.signed)).sort(), [botFpr.slice(-16), next.fingerprint.slice(-16)].sort());
    assert.match(d2.parsed.text, /\*\*\* THE BOT'S KEY HAS CHANGED \*\*\*/);
    assert.match(d2.parsed.text.replace(/\s+/g, ' '), new RegExp(`trust root version 2 names .*replaces ${botFpr}.*signed by both keys`));

    // GnuPG, holding both keys, reports two good signatures on the archived file.
    const gpg = await makeGpgHome();
    try {
      await gpg.importKeys(oldPublic);
      await gpg.importKeys(newPublic);
      const v = await gpg.run(['--status-fd', '1', '--verify'], readFileSync(d2.file));
      assert.equal(v.code, 0, v.stderr);
      assert.deepEqual(signedCount(v.stdout.toString()).sort(), [botFpr, next.fingerprint].sort());
      // Every copy mailed is signed by both too (PGP/MIME to people, inline to
      // the list), and Python's email package reads each without a defect.
      for (const id of r2.outboxIds) {
        const row = await app.store.getOutbox(id);
        assert.ok(row);
        const raw = Buffer.from(row.raw);
        const reading = await readWithPython(raw);
        assert.deepEqual(reading.defects, []);
        const mv = await gpg.verifyMail(raw);
        assert.equal(mv.ok, true, mv.status);
        assert.equal(mv.kind, reading.contentType === 'multipart/signed' ? 'pgpmime' : 'inline');
        assert.deepEqual(signedCount(mv.status).sort(), [botFpr, next.fingerprint].sort());
      }
      assert.deepEqual(new Set(await Promise.all(r2.outboxIds.map(async (id) => (await readWithPython(Buffer.from((await app.store.getOutbox(id))!.raw))).contentType))),
        new Set(['multipart/signed', 'text/plain']));
    } finally {
      await gpg.cleanup();
    }
    // verify-digest with either key alone; the chain from digest 1 (signed by the old key) needs the old key for it.
    const oldRing = await Keyring.fromArmored(oldPublic);
    const newRing = await Keyring.fromArmored(newPublic);
    for (const ring of [oldRing, newRing]) {
      const alone = await verifyDigest({ file: readFileSync(d2.file), botKeys: ring, logKey: vkey });
      assert.equal(alone.ok, true, alone.reason);
    }
    const chained = await verifyDigest({ file: readFileSync(d2.file), previous: readFileSync(d1.file), botKeys: newRing, previousBotKeys: oldRing, logKey: vkey });
    assert.equal(chained.ok, true, chained.reason);
    const both = await verifyDigest({ file: readFileSync(d2.file), previous: readFileSync(d1.file), botKeys: await Keyring.fromArmored(oldPublic + newPublic), logKey: vkey });
    assert.equal(both.ok, true, both.reason);
    const newOnly = await verifyDigest({ file: readFileSync(d2.file), previous: readFileSync(d1.file), botKeys: newRing, logKey: vkey });
    assert.equal(newOnly.ok, false);
    assert.match(newOnly.reason, /^previous digest: signature: it is signed by key [0-9A-F]{16}, not by the bot's key$/);

    assert.equal(r2.outboxIds.length, 2);

    // The next digest, after a new entry: the new key alone; the old key no longer checks it.
    await logKeyAdded(app, 'E', 1, '2026-01-07T03:04:05Z');
    const r3 = await runDigestCycle(app, { now: new Date('2026-01-12T08:00:00Z') });
    const d3 = await archive.read(r3.digest!.number);
    assert.deepEqual(await digestSigners(d3.signed), [next.fingerprint.slice(-16)]);
    assert.doesNotMatch(d3.parsed.text, /KEY HAS CHANGED/);
    const withOld = await verifyDigest({ file: readFileSync(d3.file), previous: readFileSync(d2.file), botKeys: await Keyring.fromArmored(oldPublic), logKey: vkey });
    assert.equal(withOld.ok, false);
    const withNew = await verifyDigest({ file: readFileSync(d3.file), previous: readFileSync(d2.file), botKeys: await Keyring.fromArmored(newPublic), logKey: vkey });
    assert.equal(withNew.ok, true, withNew.reason);
  });

  test('attack: a bot key that signs with a signing subkey (an operator-made key at keys/bot-next.key or keys/bot.key) is no rotation: no digest each cycle announcing a key change', async () => {
    const { cfg } = await setup();
    const layout = dataLayout(cfg.dataDir);
    writeFileSync(layout.botKey, await subkeySigningKey());
    const app = await open(cfg);
    await logKeyAdded(app, 'D', 0, '2026-01-02T03:04:05Z');
    const r1 = await runDigestCycle(app, { now: new Date('2026-01-05T08:00:00Z') });
    assert.equal(r1.digest?.number, 1);
    assert.equal(await rotationPending(app), false, `digest 1 is signed by ${(await digestSigners((await new DigestArchive(layout.digests).read(1)).signed)).join(', ')}, a key of ${app.signer.fingerprint}`);
    const r2 = await runDigestCycle(app, { now: new Date('2026-01-06T08:00:00Z') });
    assert.equal(r2.digest, null, 'nothing changed: no digest');
    assert.match(r2.skipped ?? '', /nothing changed since digest 1/);
  });

  test('attack: an old bot key that signed with a signing subkey is still found in keys/retired to co-sign the digest announcing its successor', async () => {
    const { cfg, vkey } = await setup();
    const layout = dataLayout(cfg.dataDir);
    writeFileSync(layout.botKey, await subkeySigningKey());
    const app = await open(cfg);
    const oldFpr = app.signer.fingerprint;
    await logKeyAdded(app, 'D', 0, '2026-01-02T03:04:05Z');
    await runDigestCycle(app, { now: new Date('2026-01-05T08:00:00Z') });
    const archive = new DigestArchive(layout.digests);
    const [oldIssuer] = await digestSigners((await archive.read(1)).signed);
    assert.ok(!oldFpr.endsWith(oldIssuer), 'digest 1 is signed by the subkey');
    const next = await nextBotKey(cfg, PASS);
    await publishRoot(cfg, vkey, 1, oldFpr);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    assert.deepEqual(await app.adoptRootBotKey(), { from: oldFpr, to: next.fingerprint, version: 2 });
    const r2 = await runDigestCycle(app, { now: new Date('2026-01-06T08:00:00Z') });
    const d2 = await archive.read(r2.digest!.number);
    assert.deepEqual((await digestSigners(d2.signed)).sort(), [oldIssuer, next.fingerprint.slice(-16)].sort(), 'signed by the old key (its subkey) and the new');
    assert.doesNotMatch(d2.parsed.text.replace(/\s+/g, ' '), /The old key was not at hand/);
  });

  test('attack: a retired key the passphrase no longer unlocks (the operator moved to the new key\'s passphrase) does not stop every digest: the new key signs alone', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const layout = dataLayout(cfg.dataDir);
    const first = await open(cfg);
    await logKeyAdded(first, 'D', 0, '2026-01-02T03:04:05Z');
    await runDigestCycle(first, { now: new Date('2026-01-05T08:00:00Z') });
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'ztrust-bot', email: 'bot@example.org' }], passphrase: 'the new passphrase',
      format: 'armored', config: { v6Keys: false },
    });
    const fpr = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase();
    writeFileSync(layout.botKeyNext, privateKey);
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, fpr);
    process.env.ZTRUST_ROTATION_TEST_PASS = 'the new passphrase';
    try {
      const app = await open(cfg);
      assert.equal(app.signer.fingerprint, fpr);
      const r2 = await runDigestCycle(app, { now: new Date('2026-01-06T08:00:00Z') });
      const d2 = await new DigestArchive(layout.digests).read(r2.digest!.number);
      assert.deepEqual(await digestSigners(d2.signed), [fpr.slice(-16)]);
      assert.match(d2.parsed.text.replace(/\s+/g, ' '), /The old key was not at hand to co-sign this digest: check the new key against the trust root/);
    } finally {
      process.env.ZTRUST_ROTATION_TEST_PASS = PASS;
    }
  });

  test('without the retired key, the announcing digest is signed by the new key alone and says to check the root', async () => {
    const { cfg, vkey, botFpr } = await setup();
    const app = await open(cfg);
    await logKeyAdded(app, 'D', 0, '2026-01-02T03:04:05Z');
    await runDigestCycle(app, { now: new Date('2026-01-05T08:00:00Z') });
    const next = await nextBotKey(cfg, PASS);
    await publishRoot(cfg, vkey, 1, botFpr);
    await publishRoot(cfg, vkey, 2, next.fingerprint);
    await app.adoptRootBotKey();
    rmSync(retiredKeyFile(cfg, botFpr));
    const r2 = await runDigestCycle(app, { now: new Date('2026-01-06T08:00:00Z') });
    const d2 = await new DigestArchive(dataLayout(cfg.dataDir).digests).read(r2.digest!.number);
    assert.deepEqual(await digestSigners(d2.signed), [next.fingerprint.slice(-16)]);
    assert.match(d2.parsed.text.replace(/\s+/g, ' '), /The old key was not at hand to co-sign this digest: check the new key against the trust root/);
  });
});
