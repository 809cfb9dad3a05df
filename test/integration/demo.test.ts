/**
 * `ztrust-bot demo`, as a newcomer runs it: no mail server, embedded Redis,
 * real pipeline. Its replies must verify with GnuPG.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeGpgHome } from '../harness/gpg.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { processesWithArg } from '../harness/procs.js';
import { runCli } from './bot.js';

test('the demo runs the real pipeline on embedded defaults and every reply verifies with gpg', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdemo-'));
  const r = await runCli(['demo', '--dir', dir], { ...process.env, ZTRUST_LOG_LEVEL: 'warn' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /HELP, PGP\/MIME-signed by a collection key\n\s+reply to alice@demo\.example: Status: found/);
  assert.match(r.stdout, /SUBMIT KEY, unsigned \(refused: must be signed\)\n\s+reply to erin@demo\.example: Status: error/);
  assert.match(r.stdout, /a bounce \(never answered\)\n\s+no reply \(by design\)/);
  // Issue 8, item 5: Carol's signed objection quotes her notice (with its
  // APPROVE lines) without ">": no command, so no vote.
  assert.match(r.stdout, /a signed objection by Carol quoting her notice without ">" \(no command, so no vote\)\n\s+reply to carol@demo\.example: Status: error/);
  // The two bound approvals counted: the key is in the collection.
  assert.match(r.stdout, /\ncollection: pgp\/all\/0x[0-9a-f]{16}-/);
  // Issue 11, item 5: the three things people use the bot for, and a digest, each checked offline.
  assert.match(r.stdout, /ATTEST of demo-tool-1\.0\.tar\.gz's SHA-256 by maintainer Alice\n\s+reply to alice@demo\.example: Status: accepted/);
  assert.match(r.stdout, /SUBMIT SOURCE KEY demo-tool-1\.0 by maintainer Carol: the upstream key that signs it\n\s+reply to carol@demo\.example: Status: pending/);
  assert.match(r.stdout, /pgp\/for-source\/0x[0-9a-f]{16}-releases@demo-tool\.example-signing\.asc, listed for demo-tool-1\.0/);
  assert.match(r.stdout, /VERIFY demo-tool-1\.0\.tar\.gz's SHA-256 \(unsigned\)\n\s+reply to hank@demo\.example: Status: found/);
  assert.match(r.stdout, /VERIFY demo-tool-1\.0 by release name \(unsigned\)\n\s+reply to hank@demo\.example: Status: found/);
  assert.match(r.stdout, /\ndigest: number 1, /);
  const offline = [...r.stdout.matchAll(/^- (ok|FAILED): (.*)\n {4}ztrust-bot (.*)$/gm)];
  assert.deepEqual(offline.map((m) => [m[1], m[3].split(' ')[0]]), [['ok', 'verify-proof'], ['ok', 'verify-source'], ['ok', 'verify-digest']]);
  // The commands the summary prints work as printed, in a process of their own.
  for (const m of offline) {
    const c = await runCli(m[3].split(' '), { ...process.env, ZTRUST_LOG_LEVEL: 'warn' });
    assert.equal(c.code, 0, `ztrust-bot ${m[3]}: ${c.stderr}`);
  }
  const outbox = path.join(dir, 'data', 'outbox');
  const replies = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
  assert.ok(replies.length >= 7, `replies: ${replies.length}`);
  assert.match(r.stdout, new RegExp(`${replies.length} signed replies`));
  const gpg = await makeGpgHome();
  try {
    await gpg.importKeys(readFileSync(path.join(dir, 'data', 'keys', 'bot.pub.asc')));
    for (const f of replies) {
      const v = await gpg.verifyMail(readFileSync(path.join(outbox, f)));
      assert.equal(v.ok, true, `${f}: ${v.status}`);
    }
  } finally {
    await gpg.cleanup();
  }
  assert.deepEqual(processesWithArg(path.join(dir, 'data', 'redis')), [], 'the embedded redis-server is stopped');
  // Issue 8, "What must be true" 3: the same mails read by Python's email package.
  const botKey = readFileSync(path.join(dir, 'data', 'keys', 'bot.pub.asc'), 'utf8');
  for (const f of replies) await assertBotMail(readFileSync(path.join(outbox, f)), botKey);
});
