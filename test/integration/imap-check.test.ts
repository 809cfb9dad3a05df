/**
 * `mailbox.checkMs` on the real stack (issue 10, latency): instead of IMAP
 * IDLE, which Dovecot answers 500 ms after delivery, the long-running worker
 * asks with NOOP every checkMs milliseconds. Mail delivered by LMTP while it
 * runs is answered well within a second, every time; and a server refusing
 * the login is NOT asked again every checkMs (the reconnect backoff holds).
 * Each reply is read by Python's email package and checked by gpg.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { makeBot, readReply, startCli, type BotSetup } from './bot.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

before(async () => {
  [dovecot, redis, smtp] = await Promise.all([startDovecot(), startRedis(), startSmtp()]);
});
after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop()]);
});

function bot(prefix: string, password: string): Promise<BotSetup> {
  return makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: password, outboxUrl: smtp.url, redisUrl: redis.url,
    config: { mailbox: { checkMs: 50 }, queue: { redisUrl: redis.url, prefix } },
  });
}

const logins = (): number => (dovecot.log().match(/imap-login: (?:Info: )?Login: user=<bot>,/g) ?? []).length;

test('with checkMs 50, mail delivered while the worker runs is answered within a second, each once', async () => {
  const b = await bot('check', dovecot.password);
  const before = logins();
  const w = startCli(['run', '--config', b.configPath], b.env);
  try {
    for (let t0 = Date.now(); logins() <= before; await sleep(25)) assert.ok(Date.now() - t0 < 20_000, 'the worker did not log in');
    await sleep(300);
    for (let i = 0; i < 5; i++) {
      const id = `<check-${i}-${randomBytes(4).toString('hex')}@example.org>`;
      const n = smtp.messages.length;
      const raw = Buffer.from(`From: Checker ${i} <checker${i}@example.org>\r\nTo: ${b.address}\r\nSubject: hello\r\nMessage-ID: ${id}\r\n`
        + `Date: ${new Date().toUTCString()}\r\n\r\nVERIFY ${randomBytes(32).toString('hex')}\r\n`);
      await dovecot.deliver(raw);
      const t = Date.now();
      const got = await smtp.waitFor(n + 1, 5_000);
      assert.ok(Date.now() - t < 1_000, `answered after ${Date.now() - t} ms`);
      const r = await readReply(got[n]);
      assert.equal(r.inReplyTo, id);
      await assertBotMail(got[n].raw, b.botPublicKey);
    }
    await sleep(500);
    assert.equal(smtp.messages.length, 5, 'one reply each, nothing twice');
  } finally {
    w.child.kill('SIGTERM');
    const end = await w.done;
    assert.equal(end.code, 0, end.stderr);
  }
});

test('with checkMs 50 and a password the server refuses, the login is retried on the backoff, not every 50 ms', async () => {
  const b = await bot('check-bad', 'not-the-password');
  const w = startCli(['run', '--config', b.configPath], b.env);
  await sleep(3_000);
  w.child.kill('SIGTERM');
  const end = await w.done;
  assert.equal(end.code, 0, end.stderr);
  const failures = (end.stderr.match(/"msg":"IMAP fetch failed"/g) ?? []).length;
  // Backoff 250, 500, 1000, 2000 ms: four or five tries in three seconds (every 50 ms would be ~60).
  assert.ok(failures >= 2 && failures <= 6, `${failures} login attempts in 3 s`);
  assert.match(end.stderr, /cannot log in to imap:/);
});
