/**
 * Issue 8 item 13, on the real stack: the long-running worker (the CLI `run`,
 * with an external Redis from the harness) while that Redis restarts. Every
 * line an operator's log collector sees, stdout and stderr, must be one JSON
 * object (pino), with the correlation id on lines about a message; the
 * connection errors of the restart are logged, rate-limited, not printed as
 * raw stack traces; and the bot still answers mail afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { spoolKey } from '../../src/store/keys.js';
import { freePort } from '../harness/ports.js';
import { makeBot, readReply, runCli, startCli, stopCli, type BotSetup } from './bot.js';
import { ONCE_REDIS_LOST_MS, STOP_CHECK_MS } from '../../queue/runner.js';
import { assertNextRunAnswersOnce, runOnceThroughOutage } from './once-outage.js';

let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;
let maildir: string;

before(async () => {
  [redis, smtp, gpg] = await Promise.all([startRedis(), startSmtp(), makeGpgHome()]);
  maildir = newMaildir(path.join(redis.dir, 'bot-maildir'));
  bot = await makeBot({ mailboxUrl: `maildir:${maildir}`, outboxUrl: smtp.url, redisUrl: redis.url, config: { queue: { redisUrl: redis.url, prefix: 'logs-json' } } });
});

after(async () => {
  await Promise.allSettled([redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

/** Lines of a CLI run that are not one JSON object each. */
function nonJson(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '').filter((l) => {
    try {
      const v = JSON.parse(l) as unknown;
      return !(v && typeof v === 'object' && !Array.isArray(v));
    } catch {
      return true;
    }
  });
}

/** A Maildir with its three folders. */
function newMaildir(dir: string): string {
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
  return dir;
}

/** A HELP request from <id>@example.org to `to`, put in the Maildir's new/; returns its file name. */
function putHelp(md: string, to: string, id: string): string {
  const name = `${Date.now()}.${id}.logs.test`;
  writeFileSync(path.join(md, 'new', name),
    gpg.plainMessage({ from: `${id}@example.org`, to, subject: 'help', messageId: `<${id}@example.org>` }, 'HELP\n'));
  return name;
}

function deliver(id: string): string {
  return spoolKey(`maildir:${maildir}`, 0, putHelp(maildir, bot.address, id));
}

async function waitReply(id: string, ms: number, log: () => string): Promise<Buffer> {
  const until = Date.now() + ms;
  for (;;) {
    for (const m of smtp.messages) if ((await readReply(m)).inReplyTo === `<${id}@example.org>`) return m.raw;
    assert.ok(Date.now() < until, `no reply to ${id} within ${ms} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('run while its Redis restarts: every stdout and stderr line is JSON, and mail is still answered', { timeout: 180_000 }, async () => {
  // info: every line the worker writes in normal operation is checked too.
  const { child, done } = startCli(['run', '--config', bot.configPath], { ...bot.env, ZTRUST_LOG_LEVEL: 'info' });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const log = () => `stdout:\n${out}\nstderr:\n${err}`;
  let result;
  try {
    const before = deliver('before-restart');
    await assertBotMail(await waitReply('before-restart', 30_000, log), bot.botPublicKey, { status: 'found' });

    const restartAt = err.length;
    await redis.restart(3000);
    // Let the clients find the server gone and back.
    await new Promise((r) => setTimeout(r, 2000));
    const afterKey = deliver('after-restart');
    await assertBotMail(await waitReply('after-restart', 60_000, log), bot.botPublicKey, { status: 'found' });
    const duringRestart = err.slice(restartAt).split('\n').filter((l) => l.trim());
    child.kill('SIGTERM');
    result = await done;

    assert.equal(result.code, 0, log());
    const lines = [...out.split('\n'), ...err.split('\n')].filter((l) => l.trim() !== '');
    assert.deepEqual([...nonJson(out), ...nonJson(err)], [], 'every line the worker writes is a JSON object');
    const json = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // The restart was seen and logged as JSON, rate-limited: not one line per reconnect attempt per connection.
    const errors = duringRestart.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => (l.level as number) >= 50);
    assert.ok(errors.some((l) => /ECONNREFUSED|Connection is closed|connect/.test(String(l.err))), `the lost connection is logged:\n${log()}`);
    console.log(`# logs-json: ${errors.length} error lines while Redis restarted (${duringRestart.length} lines in all)`);
    if (process.env.ZTRUST_TEST_SHOW_LOGS) console.log(duringRestart.join('\n'));
    assert.ok(errors.length <= 4, `connection errors are rate-limited (${errors.length} lines):\n${duringRestart.join('\n')}`);
    // Lines about a message carry its correlation id.
    for (const key of [before, afterKey]) {
      assert.ok(json.some((l) => l.cid === key && l.level === 30 && l.outcome !== undefined), `the processing of ${key} is logged with its cid`);
    }
    assert.ok(json.filter((l) => l.msg === 'sent').every((l) => typeof l.cid === 'string' && (l.cid).length > 0), 'sent lines carry the outbox id');
  } finally {
    if (!result) child.kill('SIGKILL');
  }
});

test('run started while its Redis restarts waits for it, then works (the waits are JSON warnings)', { timeout: 60_000 }, async () => {
  const id = 'redis-late';
  deliver(id);
  const restarted = redis.restart(3000);
  // Redis is stopped at once and stays down 3 s; the worker reaches it in well under that.
  await new Promise((r) => setTimeout(r, 300));
  const r = await runCli(['run', '--once', '--config', bot.configPath], { ...bot.env, ZTRUST_LOG_LEVEL: 'info' }, 45_000);
  await restarted;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...nonJson(r.stdout), ...nonJson(r.stderr)], [], 'every line is a JSON object');
  const lines = r.stderr.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
  const waits = lines.filter((l) => l.level === 40 && /Redis does not answer/.test(String(l.msg)));
  assert.ok(waits.length >= 1, `the worker says it waits for Redis:\n${r.stderr}`);
  assert.equal(waits[0].queue, new URL(redis.url).host);
  assert.deepEqual(lines.filter((l) => (l.level as number) >= 60), [], 'no fatal line');
  await assertBotMail(await waitReply(id, 5_000, () => r.stderr), bot.botPublicKey, { status: 'found' });
});

test('run that cannot reach its Redis at start ends with a JSON fatal line, exit 1', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const b = await makeBot({ mailboxUrl: `maildir:${maildir}`, outboxUrl: smtp.url, config: { queue: { redisUrl: `redis://127.0.0.1:${port}` } } });
  const r = await runCli(['run', '--config', b.configPath], b.env, 30_000);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual([...nonJson(r.stdout), ...nonJson(r.stderr)], [], 'every line is a JSON object');
  const fatal = r.stderr.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 60);
  assert.equal(fatal.length, 1);
  assert.equal(fatal[0].code, 'QUEUE_CONNECT');
  assert.match(String(fatal[0].err), new RegExp(`cannot reach Redis at 127.0.0.1:${port}`));
});

// Found by testing a stop during an outage: BullMQ closes nothing while Redis
// cannot be reached, so a SIGTERM then never ended (the supervisor had to
// SIGKILL). Now a stop that finds Redis gone stops without it, and the mail
// it could not queue is answered, once, by the next start. A bot of its own
// (its own Redis, Maildir and address).
test('run stopped while its Redis is down stops without it; the next start answers what it left', { timeout: 150_000 }, async () => {
  const own = await startRedis();
  const md = newMaildir(path.join(redis.dir, 'stop-down-maildir'));
  const b = await makeBot({ mailboxUrl: `maildir:${md}`, outboxUrl: smtp.url, redisUrl: own.url, config: { queue: { redisUrl: own.url, prefix: 'stop-down' } } });
  const send = (id: string): void => { putHelp(md, b.address, id); };
  try {
    const w = startCli(['run', '--config', b.configPath], b.env);
    let out = '';
    w.child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    send('stop-down-before');
    await waitReply('stop-down-before', 20_000, () => out);
    // Down for longer than the stop takes to give up on it; back for the next start.
    const outage = own.restart(STOP_CHECK_MS + 15_000);
    await new Promise((r) => setTimeout(r, 500));
    send('stop-down-during');
    await new Promise((r) => setTimeout(r, 2_000));
    const t0 = Date.now();
    const r = await stopCli(w, STOP_CHECK_MS + 30_000);
    const ms = Date.now() - t0;
    assert.equal(r.code, 0, `exit ${r.signal ?? r.code} after ${ms} ms:\n${r.stderr}`);
    assert.ok(ms < STOP_CHECK_MS + 10_000, `stopped after ${ms} ms`);
    assert.deepEqual([...nonJson(r.stdout), ...nonJson(r.stderr)], [], 'every line is a JSON object');
    const cut = r.stderr.split('\n').filter((l) => l.includes('stopping without the queue')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(cut.length, 1, r.stderr);
    assert.equal(cut[0].level, 50);

    // Redis back: the next start answers the mail that came during the outage, once.
    await outage;
    const once = await runCli(['run', '--once', '--config', b.configPath], b.env, 60_000);
    assert.equal(once.code, 0, once.stderr);
    const raw = await waitReply('stop-down-during', 10_000, () => once.stderr);
    await assertBotMail(raw, b.botPublicKey);
    const replies = await Promise.all(smtp.messages.map(readReply));
    assert.equal(replies.filter((x) => x.inReplyTo === '<stop-down-during@example.org>').length, 1, 'answered once');
    assert.equal(replies.filter((x) => x.inReplyTo === '<stop-down-before@example.org>').length, 1, 'the earlier one not again');
  } finally {
    await own.stop();
  }
});

// A run from cron must end: BullMQ waits for a Redis that went away without
// end. Here half the replies are sent and the first tries of the others are
// refused (451), so those wait in the outbound queue on a long backoff and
// `run --once` is still settling when its Redis goes down and stays down.
test('run --once whose Redis stops answering ends with exit 1 and QUEUE_CONNECT within the bound; the next run answers what it left, once', { timeout: 180_000 }, async () => {
  const own = await startRedis();
  const md = newMaildir(path.join(own.dir, 'once-down-maildir'));
  const b = await makeBot({ mailboxUrl: `maildir:${md}`, outboxUrl: smtp.url, redisUrl: own.url,
    config: { queue: { redisUrl: own.url, prefix: 'once-down' }, outbox: { backoffSeconds: 60 } } });
  const ids = Array.from({ length: 6 }, (_, i) => `once-down-${i}`);
  for (const id of ids) putHelp(md, b.address, id);
  let outage: Promise<void> | undefined;
  let acceptedBefore: number;
  try {
    // Each reply now waits a minute in the queue; Redis goes for longer than the bound.
    const caught = await runOnceThroughOutage(b, smtp, ids, () => { outage = own.restart(ONCE_REDIS_LOST_MS + 20_000); });
    acceptedBefore = caught.acceptedBefore;
    const r = caught.result;
    const lines = r.stderr.split('\n').filter((l) => l.includes('run --once stopping without the queue')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(lines[0].level, 50);
  } catch (err) {
    await own.stop();
    throw err;
  }
  try {
    await outage;
    await assertNextRunAnswersOnce(b, smtp, ids, acceptedBefore);
  } finally {
    await own.stop();
  }
});
