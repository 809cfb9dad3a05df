/**
 * Faults on the real stack (issue 8, "What must be true" 6): the scenario of
 * bench/faults.ts (read its header) with a smaller backlog, so the test fits
 * the CI budget on a 2-core machine. FAULTS_N sets the backlog (default 600;
 * the script's default is 2,000), FAULTS_SEED replays a run's fault moments.
 *
 * Each property is asserted exactly: the lists of unanswered, doubly
 * answered, wrongly answered and malformed requests are empty, the same-
 * Message-ID re-sends stay within kills x outbound concurrency, every ticket
 * exists once and is applied by one commit, and `audit` and `log fsck` exit 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countsLine, runFaults } from '../../bench/faults.js';

const N = Number(process.env.FAULTS_N ?? 600);
const SEED = process.env.FAULTS_SEED ? Number(process.env.FAULTS_SEED) : undefined;

test(`${N} messages; worker SIGKILLed 5 times, Redis restarted, Dovecot down 10 s, SMTP refusing 30 s: every message answered once`, { timeout: 900_000 }, async () => {
  const r = await runFaults({ n: N, seed: SEED, submits: 4, signed: Math.min(300, Math.round(N * 0.15)), pythonSample: 50 });
  console.log(countsLine(r));

  // Every fault happened while the bot was working.
  assert.equal(r.killsAt.length, 5);
  for (const at of [...r.killsAt, r.redisAt, r.dovecotAt, r.smtpAt]) assert.ok(at >= 0 && at < r.requests, `fault at ${at} of ${r.requests}`);
  assert.ok(r.refused > 0, 'the SMTP listener refused mail during its outage');

  assert.deepEqual(r.missing, [], 'every request is answered (In-Reply-To at the listener)');
  assert.equal(r.answered, r.requests);
  assert.deepEqual(r.doubled, [], 'no request gets two different replies');
  assert.deepEqual(r.wrongStatus, [], 'each request gets the Status its command must get');
  assert.deepEqual(r.malformed, [], 'every reply has the structure of a signed bot reply');
  assert.equal(r.pythonChecked, 50);
  assert.deepEqual(r.pythonFailures, [], 'the sampled replies pass Python\'s email package and gpg --verify');
  assert.ok(r.resends <= r.killsAt.length * r.outboundConcurrency,
    `same-Message-ID re-sends (${r.resends}) only from the window SMTP cannot close: at most kills x outbound concurrency`);

  assert.deepEqual(r.ticketProblems, [], 'one ticket per submission, each applied by exactly one commit');
  assert.deepEqual(r.tickets.map((t) => t.state), Array(r.submits).fill('applied'));

  assert.equal(r.finalRun.code, 0, r.finalRun.stderrTail);
  assert.equal(r.audit.code, 0, r.audit.out);
  assert.equal(r.fsck.code, 0, r.fsck.out);
  assert.deepEqual(r.nonJsonStderr, [], 'the worker wrote only JSON lines on stderr through every fault');
});
