/**
 * `run --once` caught by an outage while it settles (test/integration/
 * logs-json.test.ts: Redis alone; imap.test.ts: Redis and the mail server
 * together). Half the replies are accepted and the first tries of the others
 * refused (451), so they wait on the bot's backoff (the tests set a minute)
 * and the run is still settling when `goDown` starts the outage.
 */
import assert from 'node:assert/strict';
import { ONCE_REDIS_LOST_MS } from '../../queue/runner.js';
import { assertBotMail } from '../harness/mailcheck.js';
import type { SmtpHandle } from '../harness/smtp.js';
import { doneWithin, readReply, runCli, startCli, type BotSetup, type CliResult } from './bot.js';

export interface OnceOutage {
  /** The run caught by the outage. */
  result: CliResult;
  /** Where this bot's replies start among the listener's messages. */
  acceptedBefore: number;
}

/**
 * Runs `run --once` for `ids` (already in the mailbox), starts the outage
 * once every reply was tried once, and asserts what holds whatever went
 * down: the run ends by itself with exit 1 and QUEUE_CONNECT within the
 * bound, and nothing was tried again or sent twice meanwhile.
 */
export async function runOnceThroughOutage(b: BotSetup, smtp: SmtpHandle, ids: readonly string[], goDown: () => void): Promise<OnceOutage> {
  const refusedBefore = smtp.rejected.length;
  const acceptedBefore = smtp.messages.length;
  const refused = ids.length / 2;
  smtp.failNext(refused);
  const w = startCli(['run', '--once', '--config', b.configPath], b.env);
  const t0 = Date.now();
  while (smtp.rejected.length - refusedBefore < refused || smtp.messages.length - acceptedBefore < ids.length - refused) {
    assert.ok(Date.now() - t0 < 30_000, `every reply tried once within 30 s:\n${w.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  goDown();
  const down = Date.now();
  const result = await doneWithin(w, ONCE_REDIS_LOST_MS + 60_000);
  const ms = Date.now() - down;
  assert.equal(result.signal, null, `ended by itself, not killed:\n${result.stderr}`);
  assert.equal(result.code, 1, result.stderr);
  assert.ok(ms >= ONCE_REDIS_LOST_MS - 5_000 && ms < ONCE_REDIS_LOST_MS + 15_000, `ended ${ms} ms after the outage began:\n${result.stderr}`);
  assert.match(result.stderr, /^ztrust-bot: QUEUE_CONNECT: Redis at \S+ has not answered for about 30 s: run --once stopped; the store keeps what is not finished/m);
  assert.equal(smtp.rejected.length - refusedBefore, refused, 'no reply tried again meanwhile');
  assert.equal(smtp.messages.length - acceptedBefore, ids.length - refused, 'no reply sent twice meanwhile');
  return { result, acceptedBefore };
}

/** With everything back and the mail server accepting: the next run sends what was left, and each message has exactly one reply over both runs. */
export async function assertNextRunAnswersOnce(b: BotSetup, smtp: SmtpHandle, ids: readonly string[], acceptedBefore: number): Promise<void> {
  const once = await runCli(['run', '--once', '--config', b.configPath], b.env, 60_000);
  assert.equal(once.code, 0, once.stderr);
  const replies = await Promise.all(smtp.messages.slice(acceptedBefore).map(readReply));
  assert.deepEqual(replies.map((x) => x.inReplyTo).sort(), ids.map((id) => `<${id}@example.org>`).sort(), 'each message answered once, over both runs');
  for (const reply of replies) await assertBotMail(reply.raw, b.botPublicKey);
}
