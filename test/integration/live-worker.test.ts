/**
 * The long-running worker as deployed (issue 8, "What must be true" 2): the
 * real CLI `run`, started on an EMPTY Dovecot INBOX, must answer mail that
 * arrives while it runs, within 2 s of delivery, also after its session is
 * kicked, after Dovecot restarts, and after its IDLE connection is silently
 * dropped by the network (then the safety poll must notice and reconnect).
 *
 * Latency is measured from the LMTP delivery (the message is in the mailbox
 * when Dovecot says 250) to the moment the reply reaches the SMTP listener,
 * matched by In-Reply-To. The bot talks to Dovecot through a TCP proxy so the
 * last part can cut the connection without either end noticing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { startTcpProxy, type TcpProxyHandle } from '../harness/tcpproxy.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { findBinary } from '../harness/procs.js';
import { makeBot, readReply, startCli, type BotSetup, type RunningCli } from './bot.js';
import { IMAP_COMMAND_TIMEOUT_MS } from '../../queue/intake/imap.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let proxy: TcpProxyHandle;
let bot: BotSetup;
let worker: RunningCli | null = null;
/** Message-ID -> when Dovecot accepted it over LMTP. */
const deliveredAt = new Map<string, number>();
/** When each captured reply reached the listener (index = smtp.messages index). */
const capturedAt: number[] = [];
/** In-Reply-To of each reply -> when it reached the listener. */
const replyAt = new Map<string, number>();
const doubleReplies: string[] = [];
/** Every reply goes through the independent reader and gpg, in the background (python and gpg are slow). */
let checks: Promise<void> = Promise.resolve();
const checkErrors: unknown[] = [];
let scanned = 0;
let scanning = false;
let watch: NodeJS.Timeout;

async function scan(): Promise<void> {
  scanning = true;
  try {
    for (; scanned < capturedAt.length; scanned++) {
      const m = smtp.messages[scanned];
      const at = capturedAt[scanned];
      const r = await readReply(m);
      if (r.inReplyTo) {
        if (replyAt.has(r.inReplyTo)) doubleReplies.push(r.inReplyTo);
        else replyAt.set(r.inReplyTo, at);
      }
      checks = checks.then(async () => {
        try {
          await assertBotMail(m.raw, bot.botPublicKey, { signing: 'pgpmime' });
        } catch (err) {
          checkErrors.push(err);
        }
      });
    }
  } finally {
    scanning = false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

before(async () => {
  [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  proxy = await startTcpProxy({ host: dovecot.host, port: dovecot.imapPort });
  bot = await makeBot({
    mailboxUrl: `imap://${dovecot.user}@${proxy.host}:${proxy.port}/INBOX`, mailboxPassword: dovecot.password,
    outboxUrl: smtp.url, redisUrl: redis.url,
  });
  // The listener keeps no arrival times: stamp each message as it appears.
  watch = setInterval(() => {
    while (capturedAt.length < smtp.messages.length) capturedAt.push(Date.now());
    if (!scanning && scanned < capturedAt.length) void scan();
  }, 5);
});
after(async () => {
  clearInterval(watch);
  if (worker) {
    worker.child.kill('SIGKILL');
    await worker.done;
  }
  await Promise.allSettled([proxy?.stop(), dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

function setPollSeconds(n: number): void {
  const doc = YAML.parse(readFileSync(bot.configPath, 'utf8')) as { mailbox: Record<string, unknown> };
  doc.mailbox.pollSeconds = n;
  writeFileSync(bot.configPath, YAML.stringify(doc));
}

/** Logins of the bot's user that Dovecot has logged so far. */
function logins(): number {
  return (dovecot.log().match(/imap-login: (?:Info: )?Login: user=<bot>,/g) ?? []).length;
}

async function waitForLogin(after: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (logins() <= after) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`the bot did not log in again within ${timeoutMs} ms\n${dovecot.log().slice(-3000)}`);
    await sleep(25);
  }
  // Login, SELECT, the first NOOP and fetch, then IDLE: a few round trips.
  await sleep(300);
  return Date.now() - t0;
}

async function startWorker(): Promise<void> {
  const before = logins();
  // debug: a late answer's failure message shows what the worker logged meanwhile (fetches, each message, each send).
  worker = startCli(['run', '--config', bot.configPath], { ...bot.env, ZTRUST_LOG_LEVEL: 'debug' });
  await waitForLogin(before, 20_000);
}

async function stopWorker(): Promise<void> {
  if (!worker) return; // a test run on its own (--test-name-pattern)
  const w = worker;
  worker = null;
  w.child.kill('SIGTERM');
  const r = await w.done;
  assert.equal(r.code, 0, r.stderr);
}

let seq = 0;
/** An unsigned request from its own sender (the per-sender reply budget stays out of the way). */
function request(tag: string): { id: string; raw: Buffer } {
  const n = ++seq;
  const id = `<${tag}-${n}-${randomBytes(4).toString('hex')}@example.org>`;
  const body = n % 2 ? `VERIFY ${randomBytes(32).toString('hex')}\n` : 'HELP\n';
  return { id, raw: gpg.plainMessage({ from: `user${n}@example.org`, to: bot.address, subject: `${tag} ${n}`, messageId: id }, body) };
}

interface Sent { id: string; deliveredAt: number }

/** Deliver one request over LMTP; the time is taken when Dovecot has accepted it. */
async function deliver(tag: string): Promise<Sent> {
  const m = request(tag);
  await dovecot.deliver(m.raw);
  deliveredAt.set(m.id, Date.now());
  return { id: m.id, deliveredAt: deliveredAt.get(m.id)! };
}

/**
 * Wait for a reply to each sent message (or until `waitMs` after the last
 * delivery) and return each message's latency (null: no reply). Every reply
 * seen so far must have passed the independent reader and gpg.
 */
async function latencies(sent: Sent[], waitMs: number): Promise<{ id: string; ms: number | null }[]> {
  const deadline = Math.max(...sent.map((s) => s.deliveredAt)) + waitMs;
  while (!sent.every((s) => replyAt.has(s.id)) && Date.now() < deadline) await sleep(20);
  await sleep(50);
  while (scanning || scanned < capturedAt.length) await sleep(20);
  await checks;
  assert.deepEqual(checkErrors, [], 'every reply reads cleanly and verifies');
  assert.deepEqual(doubleReplies, [], 'no message is answered twice');
  return sent.map((s) => ({ id: s.id, ms: replyAt.has(s.id) ? replyAt.get(s.id)! - s.deliveredAt : null }));
}

function assertWithin(rows: { id: string; ms: number | null }[], limitMs: number, what: string): void {
  const late = rows.filter((r) => r.ms === null || r.ms > limitMs);
  const ms = rows.map((r) => r.ms ?? Infinity).sort((a, b) => a - b);
  console.log(`${what}: ${rows.length} messages, latency median ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms`);
  assert.deepEqual(late, [], `${what}: ${late.length} of ${rows.length} not answered within ${limitMs} ms\n${workerLogAround(late)}`);
}

/** The worker's log lines from each late message's delivery to its reply (or to now): where the time went. */
function workerLogAround(late: { id: string; ms: number | null }[]): string {
  const lines = (worker?.output() ?? '').split('\n');
  return late.map((r) => {
    const from = deliveredAt.get(r.id)! - 100;
    const to = r.ms === null ? Date.now() : from + 100 + r.ms + 100;
    // The worker's log lines are JSON with an ISO time (src/logger.ts).
    const during = lines.filter((l) => {
      const t = /^\{.*"time":"([^"]+)"/.exec(l);
      const at = t ? Date.parse(t[1]) : NaN;
      return at >= from && at <= to;
    });
    return `worker log while ${r.id} waited (${during.length} lines):\n${during.join('\n')}`;
  }).join('\n');
}

/**
 * Deliver `n` requests at random moments over about `spanMs`, every fourth
 * one 50-300 ms behind the previous one (while that is being processed). The
 * schedule is kept against the clock, so slow LMTP sessions do not stretch it.
 */
async function deliverSpread(tag: string, n: number, spanMs: number): Promise<Sent[]> {
  const short = Array.from({ length: n }, (_, i) => i % 4 === 1);
  const shortGap = () => 50 + Math.random() * 250;
  const weights = short.map((s, i) => (s || i === 0 ? 0 : 0.3 + Math.random()));
  const budget = Math.max(0, spanMs - short.filter(Boolean).length * 175);
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const t0 = Date.now();
  let at = 0;
  const sent: Sent[] = [];
  for (let i = 0; i < n; i++) {
    at += short[i] ? shortGap() : (weights[i] / total) * budget;
    const wait = t0 + at - Date.now();
    if (wait > 0) await sleep(wait);
    sent.push(await deliver(tag));
  }
  return sent;
}

function doveadm(args: string[]): string {
  return execFileSync(findBinary('doveadm', 'dovecot-core'), ['-c', path.join(dovecot.dir, 'dovecot.conf'), ...args], { encoding: 'utf8' });
}

test('run on an empty INBOX answers 30 messages delivered over 60 s, each within 2 s', { timeout: 120_000 }, async () => {
  // A long safety poll: every answer here must come from IDLE's EXISTS.
  setPollSeconds(60);
  await startWorker();
  const sent = await deliverSpread('live', 30, 60_000);
  assertWithin(await latencies(sent, 5_000), 2_000, 'live delivery');
  // Some arrived while the one before was still being processed.
  const overlapping = sent.filter((m, i) => i > 0 && m.deliveredAt < replyAt.get(sent[i - 1].id)!).length;
  console.log(`live delivery: ${overlapping} messages arrived before the previous one was answered`);
  assert.ok(overlapping >= 3, `only ${overlapping} deliveries overlapped the processing of the previous one`);
});

test('after doveadm kick, the worker reconnects and answers each message within 2 s', { timeout: 60_000 }, async () => {
  const before = logins();
  doveadm(['kick', dovecot.user]);
  // The first message goes in while the bot is still reconnecting.
  const sent = await deliverSpread('kick', 5, 5_000);
  assertWithin(await latencies(sent, 5_000), 2_000, 'after kick');
  assert.ok(logins() > before, 'the bot logged in again');
});

test('after Dovecot restarts, the worker reconnects and answers each message within 2 s', { timeout: 60_000 }, async () => {
  const before = logins();
  await dovecot.restart({ downMs: 1_000 });
  // While Dovecot was down the bot backed off; how long it takes to come
  // back is bounded by the backoff (it doubles from 250 ms) and the poll.
  const back = await waitForLogin(before, 10_000);
  console.log(`after restart: the bot logged in again ${back} ms after Dovecot was up`);
  const sent = await deliverSpread('restart', 5, 5_000);
  assertWithin(await latencies(sent, 5_000), 2_000, 'after restart');
});

test('a silently dropped IDLE connection is found by the safety poll, and mail is fetched', { timeout: 90_000 }, async () => {
  await stopWorker();
  const pollSeconds = 5; // the least the config accepts
  setPollSeconds(pollSeconds);
  await startWorker();
  const accepted = proxy.accepted;
  assert.equal(proxy.blackhole(), 1, 'the worker holds one IMAP connection');
  const sent = await deliverSpread('blackhole', 5, 6_000);
  const limit = pollSeconds * 1000 + IMAP_COMMAND_TIMEOUT_MS + 2_000;
  assertWithin(await latencies(sent, limit), limit, 'after the connection was blackholed');
  assert.ok(proxy.accepted > accepted, 'the worker opened a new connection');
  // Mail after the new connection is in IDLE: at once again.
  await sleep(500);
  const more = await deliverSpread('blackhole-after', 3, 3_000);
  assertWithin(await latencies(more, 5_000), 2_000, 'on the new connection');
});

test('the worker stops cleanly (exit 0) while its connection is blackholed', { timeout: 60_000 }, async () => {
  assert.equal(proxy.blackhole(), 1);
  const t0 = Date.now();
  await stopWorker();
  const ms = Date.now() - t0;
  assert.ok(ms < 5_000, `stopping took ${ms} ms`);
});
