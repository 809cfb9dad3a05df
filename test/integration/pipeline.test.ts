/**
 * Issue 2, on the real stack: Dovecot (LMTP delivery, IMAP intake), Redis,
 * a real SMTP listener, keys and signed mail made by GnuPG, the bot run as
 * its CLI, and its replies checked with `gpg --verify`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { processesWithArg } from '../harness/procs.js';
import { makeBot, readReply, runCli, startCli, type BotSetup } from './bot.js';
import { assertBotMail, headerValues } from '../harness/mailcheck.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;
let userFpr: string;
/** Keys of the extra bots some tests start, for the reader at the end. */
const otherBotKeys: string[] = [];

before(async () => {
  [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  bot = await makeBot({ mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url });
  await gpg.importKeys(bot.botPublicKey);
  userFpr = await gpg.genKey('Vera Volunteer <vera@example.org>', { algo: 'ed25519' });
});

after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

const hdr = (id: string, extra?: Record<string, string>) => ({ from: 'Vera Volunteer <vera@example.org>', to: 'ztrust-bot@example.org', subject: 'help me', messageId: `<${id}@example.org>`, extra });

describe('HELP by signed mail through Dovecot, Redis and SMTP', () => {
  test('PGP/MIME, inline and unsigned HELP each get exactly one reply that gpg verifies', async () => {
    await dovecot.deliver(await gpg.pgpMimeMessage(userFpr, hdr('pgpmime-help'), 'HELP\n'));
    await dovecot.deliver(await gpg.pgpMimeMessage(userFpr, hdr('pgpmime-text-help'), 'help\n\nThanks,\nVera\n', { textmode: true, digest: 'SHA256' }));
    await dovecot.deliver(await gpg.inlineMessage(userFpr, hdr('inline-help'), 'HELP\n'));
    await dovecot.deliver(gpg.plainMessage(hdr('plain-help'), 'HELP\n'));
    await dovecot.deliver(gpg.plainMessage(hdr('auto', { 'Auto-Submitted': 'auto-replied' }), 'HELP\n'));
    await dovecot.deliver(gpg.plainMessage(hdr('list', { 'List-Id': '<linux-390.example.org>' }), 'Anyone at SHARE?\n'));

    const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, r.stderr);
    const mails = await smtp.waitFor(4, 5000);
    assert.equal(mails.length, 4, 'the auto-reply and the list chatter are never answered');
    const byParent = new Map<string, Awaited<ReturnType<typeof readReply>>>();
    for (const m of mails) {
      const info = await readReply(m);
      byParent.set(info.inReplyTo!, info);
      assert.deepEqual(info.to, ['vera@example.org']);
      assert.equal(m.envelopeFrom, 'ztrust-bot@example.org');
      const v = await gpg.verifyMail(m.raw);
      assert.equal(v.ok, true, `gpg --verify failed: ${v.status}`);
      assert.equal(v.kind, 'pgpmime');
      assert.equal(v.signer, bot.botFingerprint);
      assert.equal(info.status, 'found');
      assert.match(info.text, /^Status: found\r?\n/);
    }
    assert.deepEqual([...byParent.keys()].sort(), ['<inline-help@example.org>', '<pgpmime-help@example.org>', '<pgpmime-text-help@example.org>', '<plain-help@example.org>']);
    // Vera's key is not in the collection: the reply says which key signed.
    for (const id of ['<pgpmime-help@example.org>', '<inline-help@example.org>', '<pgpmime-text-help@example.org>']) {
      assert.match(byParent.get(id)!.text, new RegExp(`signed by key ${userFpr.slice(-16)}, which is not in the\\s+collection`));
    }
    assert.doesNotMatch(byParent.get('<plain-help@example.org>')!.text, /signed by/);

    // A second run finds nothing new: the cursor held, nothing is sent twice.
    const again = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
    assert.equal(again.code, 0, again.stderr);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(smtp.messages.length, 4);
  });

  test('a temporary SMTP failure is retried with backoff; the reply arrives once', async () => {
    const before = smtp.messages.length;
    smtp.failNext(2, 451);
    await dovecot.deliver(gpg.plainMessage(hdr('retry-help'), 'HELP\n'));
    const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(smtp.rejected.length >= 2, true);
    assert.equal(smtp.messages.length, before + 1);
    const info = await readReply(smtp.messages.at(-1)!);
    assert.equal(info.inReplyTo, '<retry-help@example.org>');
  });

  test('inline-signed replies when configured; gpg verifies them', async () => {
    const b2 = await makeBot({ mailboxUrl: `maildir:${path.join(dovecot.dir, 'unused-maildir')}`, outboxUrl: smtp.url, redisUrl: redis.url,
      config: { replies: { signing: 'inline' }, queue: { redisUrl: redis.url, prefix: 'inline-test' } } });
    await gpg.importKeys(b2.botPublicKey);
    otherBotKeys.push(b2.botPublicKey);
    const md = path.join(dovecot.dir, 'unused-maildir');
    mkdirSync(path.join(md, 'new'), { recursive: true });
    writeFileSync(path.join(md, 'new', '1.inline.test'), gpg.plainMessage(hdr('inline-reply'), 'HELP\n'));
    const before = smtp.messages.length;
    const r = await runCli(['run', '--once', '--config', b2.configPath], b2.env);
    assert.equal(r.code, 0, r.stderr);
    const m = smtp.messages.slice(before);
    assert.equal(m.length, 1);
    const v = await gpg.verifyMail(m[0].raw);
    assert.equal(v.kind, 'inline');
    assert.equal(v.ok, true, v.status);
    assert.equal(v.signer, b2.botFingerprint);
  });

  test('run (long-running) answers new mail from IDLE/poll and exits 0 on SIGTERM', async () => {
    const before = smtp.messages.length;
    const { child, done } = startCli(['run', '--config', bot.configPath], bot.env);
    await new Promise((res) => setTimeout(res, 1500));
    await dovecot.deliver(await gpg.inlineMessage(userFpr, hdr('live-help'), 'HELP\n'));
    const got = await smtp.waitFor(before + 1, 20_000);
    assert.equal((await readReply(got.at(-1)!)).inReplyTo, '<live-help@example.org>');
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
  });

  test('with no Redis URL the bot runs its own redis-server and stops it on exit', async () => {
    const b3 = await makeBot({ mailboxUrl: `maildir:${path.join(dovecot.dir, 'embedded-maildir')}`, outboxUrl: `dir:${path.join(dovecot.dir, 'embedded-out')}`, redisUrl: null });
    const md = path.join(dovecot.dir, 'embedded-maildir');
    mkdirSync(path.join(md, 'new'), { recursive: true });
    writeFileSync(path.join(md, 'new', '1.embedded.test'), gpg.plainMessage(hdr('embedded'), 'HELP\n'));
    const r = await runCli(['run', '--once', '--config', b3.configPath], b3.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readdirSync(path.join(dovecot.dir, 'embedded-out')).filter((f) => f.endsWith('.eml')).length, 1);
    const redisDir = path.join(b3.dataDir, 'redis');
    assert.ok(existsSync(path.join(redisDir, 'appendonlydir')) || existsSync(path.join(redisDir, 'appendonly.aof')), 'append-only file in the data directory');
    assert.deepEqual(processesWithArg(redisDir), [], 'the embedded redis-server is stopped');
  });
});

// Issue 8, "What must be true" 3: the bot's mail read by Python's email
// package and gpg, long and non-ASCII Subjects included.
describe('every mail at the SMTP listener, read by another reader', () => {
  test('long and non-ASCII Subjects, and one with "Reply-To:" at the fold column, get replies Python reads as meant', async () => {
    const before = smtp.messages.length;
    const long = `Frage zu Schlüsseln für Jürgen Groß (鍵の署名) ${'und noch mehr Text '.repeat(8)}🔑`;
    const attack = `${'x'.repeat(56)} Reply-To: attacker@evil.example`;
    await dovecot.deliver(gpg.plainMessage({ ...hdr('long-subject'), subject: long }, 'HELP\n'));
    await dovecot.deliver(gpg.plainMessage({ ...hdr('attack-subject'), subject: attack }, 'HELP\n'));
    const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, r.stderr);
    const mails = (await smtp.waitFor(before + 2, 10_000)).slice(before);
    const subjects = new Map<string, string>();
    for (const m of mails) {
      const reading = await assertBotMail(m.raw, bot.botPublicKey, { status: 'found' });
      assert.deepEqual(headerValues(reading, 'Reply-To'), []);
      subjects.set(headerValues(reading, 'In-Reply-To')[0], headerValues(reading, 'Subject')[0]);
    }
    assert.equal(subjects.get('<long-subject@example.org>'), `Re: ${long.replace(/\s+/g, ' ').trim()}`);
    assert.equal(subjects.get('<attack-subject@example.org>'), `Re: ${attack}`);
  });

  test('every mail the SMTP listener received in this file reads cleanly in Python and verifies with gpg', async () => {
    assert.ok(smtp.messages.length >= 8, `only ${smtp.messages.length} mails`);
    const keys = [bot.botPublicKey, ...otherBotKeys].join('\n');
    for (const m of smtp.messages) await assertBotMail(m.raw, keys);
  });
});
