/**
 * Issue 4 end to end on the real stack: Dovecot (LMTP delivery, IMAP
 * intake), Redis, a real SMTP listener, the bot run as its CLI. A GnuPG key
 * in the collection (certified by a maintainer's key) attests two artifacts
 * with a gpg-clearsigned SHA256SUMS made by coreutils' sha256sum; an
 * unsigned VERIFY mail gets the attestation and a proof block; the reply
 * passes `gpg --verify`; `ztrust-bot verify-proof saved.eml --log-key KEY`
 * accepts the saved reply and refuses it once one byte of the proof is
 * flipped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Collection } from '../../src/collection/collection.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle, type CapturedMail } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { makeBot, readReply, runCli, type BotSetup } from './bot.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;
let adaFpr: string;
let maxFpr: string;
let work: string;
let sums: string;

const hdr = (id: string, from = 'Ada Attester <ada@example.org>') => ({ from, to: 'ztrust-bot@example.org', subject: id, messageId: `<${id}@example.org>` });

async function runOnce(): Promise<void> {
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
}

/** The mails sent since `from`, waiting for `n` of them. */
async function mailsSince(from: number, n: number): Promise<CapturedMail[]> {
  const all = await smtp.waitFor(from + n, 20_000);
  return all.slice(from);
}

before(async () => {
  [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  adaFpr = await gpg.genKey('Ada Attester <ada@example.org>', { algo: 'ed25519' });
  maxFpr = await gpg.genKey('Max Maintainer <max@example.org>', { algo: 'ed25519' });
  await gpg.signKey(maxFpr, adaFpr);
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url,
    config: { maintainers: [maxFpr], threshold: 1, queue: { redisUrl: redis.url, prefix: 'log-interop' } },
  });
  await gpg.importKeys(bot.botPublicKey);
  // The collection as the group's repository holds it: the keys exactly as gpg exports them.
  const col = await Collection.open(path.join(bot.dataDir, 'collection'));
  const exported = { [adaFpr]: await gpg.exportPublic(adaFpr), [maxFpr]: await gpg.exportPublic(maxFpr) };
  await col.apply(async (c) => {
    for (const armored of Object.values(exported)) {
      const [key] = await readKeysAny(armored);
      await c.putKey(key, 'public', { armored });
    }
  }, { message: 'seed the collection', signer: null });

  // Two artifacts and their SHA256SUMS, made by coreutils.
  work = mkdtempSync(path.join(tmpdir(), 'zt-artifacts-'));
  writeFileSync(path.join(work, 'zos-utils-1.2.tar'), 'tar bytes of a community tool\n'.repeat(100));
  writeFileSync(path.join(work, 'zos-utils-1.2.xmi'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256)));
  sums = execFileSync('sha256sum', ['zos-utils-1.2.tar', 'zos-utils-1.2.xmi'], { cwd: work, encoding: 'utf8' });
});

after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

describe('ATTEST and VERIFY with GnuPG on the real stack', () => {
  let tarHex: string;
  let saved: string;
  let vkey: string;

  test('a collection key attests two artifacts with a gpg-clearsigned SHA256SUMS', async () => {
    tarHex = /^([0-9a-f]{64}) {2}zos-utils-1\.2\.tar$/m.exec(sums)![1]!;
    const start = smtp.messages.length;
    // `(echo ATTEST; echo To: ztrust-bot@example.org; sha256sum a b) | gpg --clearsign`, mailed as text/plain.
    await dovecot.deliver(await gpg.inlineMessage(adaFpr, hdr('attest-1'), `ATTEST\nTo: ztrust-bot@example.org\n${sums}`));
    await runOnce();
    const mails = await mailsSince(start, 2);
    const infos = await Promise.all(mails.map(readReply));
    for (const m of mails) {
      const v = await gpg.verifyMail(m.raw);
      assert.equal(v.ok, true, `gpg --verify failed: ${v.status}`);
      assert.equal(v.signer, bot.botFingerprint);
    }
    const accepted = infos.find((i) => i.status === 'accepted');
    const applied = infos.find((i) => i.status === 'applied');
    assert.ok(accepted && applied, infos.map((i) => i.status).join(' '));
    assert.equal(accepted.inReplyTo, '<attest-1@example.org>');
    assert.equal(applied.inReplyTo, '<attest-1@example.org>');
    assert.match(accepted.text, /2 of 2 lines\s+will be logged/);
    assert.match(applied.text, /^Log-Index: 0-1$/m);
    assert.match(applied.text, new RegExp(`line 3, sha256, log index 0:\\s+${tarHex}\\s+zos-utils-1\\.2\\.tar`));
  });

  test('an unsigned VERIFY gets the attestation and a proof; gpg verifies the reply; verify-proof accepts the saved mail', async () => {
    const start = smtp.messages.length;
    await dovecot.deliver(gpg.plainMessage(hdr('verify-1', 'Rita Reader <rita@example.org>'), `VERIFY ${tarHex}\n`));
    await runOnce();
    const [m] = await mailsSince(start, 1);
    const info = await readReply(m);
    assert.deepEqual(info.to, ['rita@example.org']);
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, new RegExp(`^Digest: ${tarHex}$`, 'm'));
    assert.match(info.text, /Artifact: {4}zos-utils-1\.2\.tar/);
    assert.match(info.text, new RegExp(`Signer: {6}${adaFpr}\\n  Identity: {4}Ada Attester <ada@example\\.org>`));
    assert.match(info.text, /Key today: {3}valid/);
    assert.match(info.text, new RegExp(`Certified by 1 collection key:\\n    ${maxFpr}\\n      Max Maintainer <max@example\\.org>`));
    assert.match(info.text, new RegExp(`Path from a maintainer key, each certifying the next:\\n    ${maxFpr}`));
    assert.match(info.text, /^c2sp\.org\/tlog-proof@v1\nindex 0\n/m);
    const v = await gpg.verifyMail(m.raw);
    assert.equal(v.ok, true, `gpg --verify failed: ${v.status}`);
    assert.equal(v.signer, bot.botFingerprint);

    const key = await runCli(['key', '--log', '--config', bot.configPath], bot.env);
    assert.equal(key.code, 0, key.stderr);
    vkey = key.stdout.trim();
    saved = path.join(work, 'saved.eml');
    writeFileSync(saved, m.raw);
    const r = await runCli(['verify-proof', saved, '--log-key', vkey], bot.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^ok: entry 0 is in log test\\.ztrust\\.example/log at tree size 2: attestation of sha256:${tarHex} \\("zos-utils-1\\.2\\.tar"\\) by ${adaFpr}`));
  });

  test('one flipped byte in the proof makes verify-proof fail (and gpg too)', async () => {
    const raw = (await import('node:fs')).readFileSync(saved);
    const text = raw.toString('latin1');
    // The first hash line of the proof, inside the quoted-printable body.
    const at = /index 0\r?\n([A-Za-z0-9+/])/.exec(text);
    assert.ok(at, 'proof found in the raw mail');
    const pos = at.index + at[0].length - 1;
    const bad = Buffer.from(raw);
    bad[pos] = bad[pos] === 0x41 ? 0x42 : 0x41;
    const tampered = path.join(work, 'tampered.eml');
    writeFileSync(tampered, bad);
    const r = await runCli(['verify-proof', tampered, '--log-key', vkey], bot.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAILED: inclusion .* of entry 0: the entry is not included at index 0/);
    assert.equal((await gpg.verifyMail(bad)).ok, false, 'the bot signature covers the proof as well');
    const wrongKey = await runCli(['verify-proof', saved, '--log-key', vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')], bot.env);
    assert.equal(wrongKey.code, 2, 'a key whose id does not match is a usage error');
  });

  test('CHECKPOINT by mail; log fsck and a consistency block from the CLI', async () => {
    const start = smtp.messages.length;
    await dovecot.deliver(gpg.plainMessage(hdr('checkpoint-1', 'Rita Reader <rita@example.org>'), 'CHECKPOINT\n'));
    await runOnce();
    const [m] = await mailsSince(start, 1);
    const info = await readReply(m);
    assert.equal(info.status, 'found');
    assert.match(info.text, /^Tree-Size: 2$/m);
    assert.equal((await gpg.verifyMail(m.raw)).ok, true);

    const fsck = await runCli(['log', 'fsck', '--config', bot.configPath], bot.env);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    const cons = await runCli(['log', 'consistency', '0', '2', '--config', bot.configPath], bot.env);
    assert.equal(cons.code, 0, cons.stderr);
    const f = path.join(work, 'cons.txt');
    writeFileSync(f, cons.stdout);
    const v = await runCli(['verify-proof', f, '--config', bot.configPath], bot.env);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
});
