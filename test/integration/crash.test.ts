/**
 * Crash safety on the real stack: 300 messages wait in Dovecot; the worker
 * (the real CLI, with its embedded redis-server) is SIGKILLed twice mid-run
 * and restarted. Every message must get exactly one reply.
 *
 * What "exactly one" means across a crash: the bot decides each reply once
 * (the outbox row is written in the same transaction that marks the message
 * done, with a deterministic Message-ID), and a row marked sent is never sent
 * again. The one window no SMTP client can close is a kill between the
 * server's "250 OK" and the row being marked sent; a resend after such a kill
 * carries the SAME Message-ID, so receivers de-duplicate it. The test checks
 * the strict property (one distinct reply per message) and bounds the wire
 * re-sends by what that window allows (kills x outbound concurrency).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { processesWithArg } from '../harness/procs.js';
import { makeBot, readReply, runCli, startCli, type BotSetup } from './bot.js';

const N = 300;
let dovecot: DovecotHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;

before(async () => {
  [dovecot, smtp, gpg] = await Promise.all([startDovecot(), startSmtp(), makeGpgHome()]);
  bot = await makeBot({ mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: null,
    config: { queue: { inboundConcurrency: 4, outboundConcurrency: 2 } } });
});

after(async () => {
  // The embedded redis-server of a killed worker is adopted by the next run
  // and stopped by `run --once`; make sure of it even if the test failed.
  for (const pid of processesWithArg(path.join(bot?.dataDir ?? '/nonexistent', 'redis'))) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await Promise.allSettled([dovecot?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

async function killWhen(count: number): Promise<void> {
  const { child, done } = startCli(['run', '--config', bot.configPath], bot.env);
  const deadline = Date.now() + 120_000;
  while (smtp.messages.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${smtp.messages.length} replies after 120 s`);
    const exited = await Promise.race([done.then((r) => r), new Promise<null>((res) => setTimeout(() => res(null), 20))]);
    if (exited) throw new Error(`worker exited early: ${exited.code} ${exited.stderr}`);
  }
  child.kill('SIGKILL');
  const r = await done;
  assert.equal(r.signal, 'SIGKILL');
}

test(`${N} messages, worker SIGKILLed twice mid-run: every message gets exactly one reply`, { timeout: 600_000 }, async () => {
  for (let i = 0; i < N; i++) {
    // Distinct senders: the per-sender reply rate limit must not interfere.
    await dovecot.deliver(gpg.plainMessage({ from: `user${i}@example.org`, to: bot.address, subject: `q${i}`, messageId: `<crash-${i}@example.org>` }, 'HELP\n'));
  }
  await killWhen(60);
  const afterFirst = smtp.messages.length;
  await killWhen(afterFirst + 100);
  const afterSecond = smtp.messages.length;
  assert.ok(afterSecond < N, `the second kill must land mid-run (had ${afterSecond})`);

  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 300_000);
  assert.equal(r.code, 0, r.stderr);

  const perParent = new Map<string, Set<string>>();
  for (const m of smtp.messages) {
    const info = await readReply(m);
    assert.ok(info.inReplyTo && info.messageId, 'every reply is threaded and has a Message-ID');
    const set = perParent.get(info.inReplyTo) ?? new Set<string>();
    set.add(info.messageId);
    perParent.set(info.inReplyTo, set);
  }
  const missing = [...Array(N).keys()].map((i) => `<crash-${i}@example.org>`).filter((id) => !perParent.has(id));
  assert.deepEqual(missing, [], 'no message lost');
  const twice = [...perParent.entries()].filter(([, s]) => s.size !== 1);
  assert.deepEqual(twice, [], 'no message answered by two different replies');
  assert.equal(perParent.size, N);
  const resends = smtp.messages.length - N;
  console.log(`# crash test: ${smtp.messages.length} SMTP deliveries for ${N} messages (${resends} same-Message-ID resends), kills after ${afterFirst} and ${afterSecond} replies`);
  assert.ok(resends <= 2 * 2, `at most kills x outboundConcurrency resends, got ${resends}`);
  assert.deepEqual(processesWithArg(path.join(bot.dataDir, 'redis')), [], 'the embedded redis-server is stopped at the end');
});
