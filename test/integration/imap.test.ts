/**
 * IMAP intake against a real Dovecot: reconnection after the server drops
 * the session, and a UIDVALIDITY change (the mailbox was rebuilt), which must
 * rescan without answering anything twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { findBinary } from '../harness/procs.js';
import { makeBot, readReply, runCli, startCli, type BotSetup } from './bot.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;

before(async () => {
  [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  bot = await makeBot({ mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url });
});
after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

function doveadm(args: string[]): string {
  return execFileSync(findBinary('doveadm', 'dovecot-core'), ['-c', path.join(dovecot.dir, 'dovecot.conf'), ...args], { encoding: 'utf8' });
}
const mail = (id: string) => gpg.plainMessage({ from: `sender-${id}@example.org`, to: bot.address, subject: id, messageId: `<${id}@example.org>` }, 'HELP\n');

test('the worker reconnects after the server drops its session, and keeps answering', async () => {
  const { child, done } = startCli(['run', '--config', bot.configPath], bot.env);
  try {
    await dovecot.deliver(mail('before-kick'));
    await smtp.waitFor(1, 20_000);
    doveadm(['kick', dovecot.user]);
    await new Promise((r) => setTimeout(r, 500));
    await dovecot.deliver(mail('after-kick'));
    const got = await smtp.waitFor(2, 30_000);
    assert.equal((await readReply(got[1]!)).inReplyTo, '<after-kick@example.org>');
  } finally {
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
  }
});

test('a UIDVALIDITY change rescans the mailbox without answering twice', async () => {
  const before = smtp.messages.length;
  const status = doveadm(['mailbox', 'status', '-u', dovecot.user, 'uidvalidity', 'INBOX']);
  const old = Number(/uidvalidity=(\d+)/.exec(status)![1]);
  doveadm(['mailbox', 'update', '-u', dovecot.user, '--uid-validity', String(old + 1000), 'INBOX']);
  await dovecot.deliver(mail('after-uidvalidity'));
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /UIDVALIDITY changed: rescanning the mailbox/);
  const fresh = smtp.messages.slice(before);
  assert.equal(fresh.length, 1, 'only the new message is answered; the rescanned ones are recognised');
  assert.equal((await readReply(fresh[0]!)).inReplyTo, '<after-uidvalidity@example.org>');
});
