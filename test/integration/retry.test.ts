/**
 * Issue 8 item 8, on the real stack (Maildir intake, the harness Redis, a real
 * SMTP listener, the CLI as an operator runs it): work that ran out of its
 * attempts after a passing fault is retried from the store's state, and
 * `run --once` reports what is stuck instead of waiting forever.
 *
 * The store fault is real: a trigger in state.db makes SQLite abort the
 * transaction that completes one message (as a full disk or a broken page
 * would), and dropping it is the repair. Nothing in the bot is mocked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { spoolKey } from '../../src/store/keys.js';
import { dataLayout } from '../../src/datadir.js';
import { makeBot, readReply, runCli, startCli, type BotSetup, type CliResult } from './bot.js';

let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;
let maildir: string;

const RETRY_SECONDS = 3;

before(async () => {
  [redis, smtp, gpg] = await Promise.all([startRedis(), startSmtp(), makeGpgHome()]);
  const dir = path.join(redis.dir, 'bot-maildir');
  maildir = dir;
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
  bot = await makeBot({ mailboxUrl: `maildir:${dir}`, outboxUrl: smtp.url, redisUrl: redis.url,
    config: { queue: { redisUrl: redis.url, prefix: 'retry-test', retryFailedSeconds: RETRY_SECONDS } } });
  // Create the store (schema) now, so the fault can be put in before the first run.
  await SqliteStore.open(dataLayout(bot.dataDir).stateDb).close();
});

after(async () => {
  await Promise.allSettled([redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

/** Deliver a HELP into the Maildir; returns the spool key the bot will give it. */
function deliver(id: string): string {
  const name = `${Date.now()}.${id}.retry.test`;
  writeFileSync(path.join(maildir, 'new', name),
    gpg.plainMessage({ from: `${id}@example.org`, to: bot.address, subject: 'help', messageId: `<${id}@example.org>` }, 'HELP\n'));
  return spoolKey(`maildir:${maildir}`, 0, name);
}

/** The store fault: completing this one message aborts inside SQLite. */
function breakStoreFor(id: string): void {
  const db = new Database(dataLayout(bot.dataDir).stateDb);
  db.exec(`CREATE TRIGGER fault_${id.replace(/\W/g, '_')} BEFORE UPDATE OF state ON spool
    WHEN NEW.state = 'done' AND OLD.message_id = '<${id}@example.org>'
    BEGIN SELECT RAISE(ABORT, 'injected store fault'); END`);
  db.close();
}

function repairStoreFor(id: string): void {
  const db = new Database(dataLayout(bot.dataDir).stateDb);
  db.exec(`DROP TRIGGER fault_${id.replace(/\W/g, '_')}`);
  db.close();
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

interface StuckEntry { queue: string; id: string; error: string | null; attempts: number | null }

function stuckReport(r: CliResult): StuckEntry[] {
  const line = jsonLines(r.stderr).find((l) => Array.isArray(l.stuck));
  assert.ok(line, `one JSON log line lists the stuck work:\n${r.stderr}`);
  return line.stuck as StuckEntry[];
}

async function repliesTo(id: string): Promise<number> {
  let n = 0;
  for (const m of smtp.messages) if ((await readReply(m)).inReplyTo === `<${id}@example.org>`) n++;
  return n;
}

describe('failed work is retried from the store', () => {
  test('a message whose store write fails all five attempts: run --once exits 1 naming it; after the repair it is answered once', { timeout: 300_000 }, async () => {
    const stuckKey = deliver('stuck-1');
    deliver('fine-1');
    breakStoreFor('stuck-1');

    const t0 = Date.now();
    const r1 = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 100_000);
    const took = Date.now() - t0;
    assert.equal(r1.signal, null, `run --once must finish by itself (it was killed after ${took} ms)`);
    assert.equal(r1.code, 1, r1.stderr);
    const stuck = stuckReport(r1);
    assert.deepEqual(stuck.map((s) => [s.queue, s.id]), [['inbound', stuckKey]]);
    assert.match(stuck[0].error ?? '', /injected store fault/);
    assert.equal(stuck[0].attempts, 5);
    // The human summary names the key and the error too.
    const human = r1.stderr.split('\n').filter((l) => l && !l.startsWith('{')).join('\n');
    assert.match(human, new RegExp(`inbound message ${stuckKey}.*injected store fault`));
    assert.equal(await repliesTo('stuck-1'), 0);
    assert.equal(await repliesTo('fine-1'), 1, 'the other message is answered meanwhile');

    repairStoreFor('stuck-1');
    const r2 = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 150_000);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await repliesTo('stuck-1'), 1, 'answered on the next start');
    const reply = smtp.messages.find((m) => m.raw.includes('<stuck-1@example.org>'))!;
    await assertBotMail(reply.raw, bot.botPublicKey, { status: 'found' });

    const r3 = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 150_000);
    assert.equal(r3.code, 0, r3.stderr);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(await repliesTo('stuck-1'), 1, 'never answered twice');
    assert.equal(await repliesTo('fine-1'), 1);
  });

  test('a reply the SMTP server refused on every attempt (temporary 451) is not lost: reported, then sent on the next start', { timeout: 120_000 }, async () => {
    const before = smtp.messages.length;
    deliver('smtp-1');
    smtp.failNext(5, 451);
    const r1 = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 60_000);
    assert.equal(r1.code, 1, r1.stderr);
    const stuck = stuckReport(r1);
    assert.equal(stuck.length, 1);
    assert.equal(stuck[0].queue, 'outbound');
    assert.match(stuck[0].id, /^reply:/);
    assert.match(stuck[0].error ?? '', /451/);
    // outbox.attempts (5) in all: the first in process, four by the queue.
    assert.equal(stuck[0].attempts, 5);
    assert.equal(smtp.messages.length, before);

    const r2 = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 60_000);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await repliesTo('smtp-1'), 1);
  });

  test('run (long-running) retries failed work on its schedule once the fault is repaired', { timeout: 180_000 }, async () => {
    const key = deliver('stuck-2');
    breakStoreFor('stuck-2');
    const { child, done } = startCli(['run', '--config', bot.configPath], bot.env);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      const failures = () => jsonLines(stderr).filter((l) => l.cid === key && l.msg === 'inbound job failed').length;
      const until = Date.now() + 90_000;
      while (failures() < 5) {
        assert.ok(Date.now() < until, `five failed attempts expected:\n${stderr}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(await repliesTo('stuck-2'), 0);
      repairStoreFor('stuck-2');
      const answered = Date.now() + (RETRY_SECONDS + 10) * 1000;
      while ((await repliesTo('stuck-2')) === 0) {
        assert.ok(Date.now() < answered, `the scheduled retry answers within ${RETRY_SECONDS} s (+ slack):\n${stderr}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      // Several more retry rounds pass: still one reply.
      await new Promise((res) => setTimeout(res, (RETRY_SECONDS * 2 + 1) * 1000));
      assert.equal(await repliesTo('stuck-2'), 1);
    } finally {
      child.kill('SIGTERM');
    }
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
  });
});
