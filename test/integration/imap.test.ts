/**
 * IMAP intake against a real Dovecot: reconnection after the server drops
 * the session, a UIDVALIDITY change (the mailbox was rebuilt), which must
 * rescan without answering anything twice, the size check before any
 * download, a backlog across size windows (also from a server without
 * ESEARCH), one over a slow link, and `run --once` while the mail server
 * and Redis are down together.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ImapFlow } from 'imapflow';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { findBinary } from '../harness/procs.js';
import { makeBot, readReply, runCli, startCli, stopCli, type BotSetup, type RunningCli } from './bot.js';
import { ONCE_REDIS_LOST_MS } from '../../queue/runner.js';
import { assertNextRunAnswersOnce, runOnceThroughOutage } from './once-outage.js';
import { IMAP_COMMAND_TIMEOUT_MS } from '../../queue/intake/imap.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { startTcpProxy } from '../harness/tcpproxy.js';
import { DEFAULT_LIMITS, INTAKE_BOUNDS } from '../../src/limits.js';
import { TRIAGED_OUTCOME } from '../../src/commands/triage.js';

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

function doveadm(d: DovecotHandle, args: string[]): string {
  return execFileSync(findBinary('doveadm', 'dovecot-core'), ['-c', path.join(d.dir, 'dovecot.conf'), ...args], { encoding: 'utf8' });
}
const mail = (id: string) => gpg.plainMessage({ from: `sender-${id}@example.org`, to: bot.address, subject: id, messageId: `<${id}@example.org>` }, 'HELP\n');

test('the worker reconnects after the server drops its session, and keeps answering', async () => {
  const { child, done } = startCli(['run', '--config', bot.configPath], bot.env);
  try {
    await dovecot.deliver(mail('before-kick'));
    await smtp.waitFor(1, 20_000);
    doveadm(dovecot, ['kick', dovecot.user]);
    await new Promise((r) => setTimeout(r, 500));
    await dovecot.deliver(mail('after-kick'));
    const got = await smtp.waitFor(2, 30_000);
    assert.equal((await readReply(got[1])).inReplyTo, '<after-kick@example.org>');
  } finally {
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
  }
});

test('a UIDVALIDITY change rescans the mailbox without answering twice', async () => {
  const before = smtp.messages.length;
  const status = doveadm(dovecot, ['mailbox', 'status', '-u', dovecot.user, 'uidvalidity', 'INBOX']);
  const old = Number(/uidvalidity=(\d+)/.exec(status)![1]);
  doveadm(dovecot, ['mailbox', 'update', '-u', dovecot.user, '--uid-validity', String(old + 1000), 'INBOX']);
  await dovecot.deliver(mail('after-uidvalidity'));
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /UIDVALIDITY changed: rescanning the mailbox/);
  const fresh = smtp.messages.slice(before);
  assert.equal(fresh.length, 1, 'only the new message is answered; the rescanned ones are recognised');
  assert.equal((await readReply(fresh[0])).inReplyTo, '<after-uidvalidity@example.org>');
});

// Issue 8, item 4: a message over `limits.maxMessageBytes` is not fetched;
// only its header section is, spooled with the size Dovecot declared
// (RFC822.SIZE). Measured on the wire: Dovecot's own count of the bytes it
// sent the bot's session.
test('a 3 MB message is not downloaded: its header section and declared size are spooled', async () => {
  const big = gpg.plainMessage({ from: 'big@example.org', to: bot.address, subject: 'a large one', messageId: '<big@example.org>' },
    `HELP\n${'0123456789abcdef'.repeat(64).concat('\n').repeat(3 * 1024)}`);
  const small = gpg.plainMessage({ from: 'small@example.org', to: bot.address, subject: 'a small one', messageId: '<small@example.org>' }, 'HELP\n');
  await dovecot.deliver(big);
  await dovecot.deliver(small);
  const size = (id: string) => Number(/size\.virtual: (\d+)/.exec(
    doveadm(dovecot, ['fetch', '-u', dovecot.user, 'size.virtual', 'mailbox', 'INBOX', 'header', 'Message-ID', id]))?.[1]);
  const bigSize = size('<big@example.org>');
  assert.ok(bigSize > 3 * 1024 * 1024, `the big message is ${bigSize} bytes on the server`);

  const logBefore = dovecot.log().length;
  const sentBefore = smtp.messages.length;
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);

  const db = new Database(path.join(bot.dataDir, 'state.db'), { readonly: true });
  const row = (id: string) => db.prepare('SELECT raw, declared_size, outcome FROM spool WHERE message_id = ?').get(id) as
    { raw: Buffer; declared_size: number | null; outcome: string | null };
  const b = row('<big@example.org>');
  const s = row('<small@example.org>');
  db.close();
  assert.equal(b.declared_size, bigSize);
  // Spooled as a refusal: the "too large" reply, read from the header section alone.
  assert.equal(b.outcome, 'too-large');
  const replies = await Promise.all(smtp.messages.slice(sentBefore).map(readReply));
  const refusal = replies.find((x) => x.inReplyTo === '<big@example.org>');
  assert.ok(refusal, 'the big message is answered');
  assert.deepEqual(refusal.to, ['big@example.org']);
  assert.equal(refusal.status, 'error');
  assert.match(refusal.text, /^Status: error$/m);
  assert.match(refusal.text, new RegExp(`Your mail is ${bigSize} bytes long; the bot reads mail of at most\\s+${DEFAULT_LIMITS.maxMessageBytes}\\s+bytes\\.\\s+Nothing was read or changed\\.`));
  assert.match(refusal.text, new RegExp(`^Rule: mail of at most ${DEFAULT_LIMITS.maxMessageBytes} bytes$`, 'm'));
  await assertBotMail(refusal.raw, bot.botPublicKey);
  const text = b.raw.toString('latin1');
  assert.match(text, /^From: big@example\.org\r\n/m);
  assert.ok(text.endsWith('\r\n\r\n'), 'the whole header section, up to the blank line');
  assert.ok(!text.includes('0123456789abcdef'), 'no body bytes');
  // The small one is taken whole, as Dovecot holds it.
  assert.equal(s.declared_size, null);
  assert.equal(s.raw.length, size('<small@example.org>'));

  // What Dovecot sent to the bot's session, by its own count.
  const out = [...dovecot.log().slice(logBefore).matchAll(/imap\(bot\).*Logged out in=\d+ out=(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(out.length, 1, `one session, logged out:\n${dovecot.log().slice(logBefore)}`);
  console.log(`Dovecot sent the bot ${out[0]} bytes for a ${bigSize}-byte and a small message`);
  assert.ok(out[0] < 256 * 1024, `Dovecot sent the bot ${out[0]} bytes`);
});

// The intake bounds sizes window by window (the first window one fetch
// batch long, later ones INTAKE_BOUNDS.sizeWindowMessages: a UID SEARCH
// LARGER than a batch's share of bytes, then RFC822.SIZE for what it
// finds) and fetches each window in batches, one batch ahead. A backlog
// across three windows, with a few posts over that share in two of them:
// every message is taken once (Dovecot's own count of the bytes it sent
// stays near one copy of the mailbox), the list posts are recorded as
// ignored and the requests among them, wherever they fall, are answered
// once each.
test('a backlog across three size windows: every message taken once, each request answered once', () => backlogAcrossWindows(dovecot, bot));

// imapflow asks for the new UIDs with ESEARCH's RETURN (ALL) only where the
// server offers ESEARCH (RFC 4731); elsewhere it sends a plain UID SEARCH,
// reads every UID as a number of its own and packs them into the same
// sequence set itself. Dovecot told to leave ESEARCH (and what implies it)
// out of its CAPABILITY list answers that way for real; a tap on the wire
// shows which SEARCH the bot sent.
test('the same backlog from a server that does not offer ESEARCH: plain UID SEARCH, each message once', async () => {
  const own = await openInbox(dovecot);
  const esearch = /^(ESEARCH|CONTEXT=SEARCH|IMAP4REV2)$/i;
  assert.ok(own.includes('ESEARCH'), `Dovecot offers ESEARCH by default: ${own.join(' ')}`);
  const plain = await startDovecot({ imapCapability: own.filter((c) => !esearch.test(c)).join(' ') });
  const wire: string[] = [];
  const tap = await startTcpProxy({ host: plain.host, port: plain.imapPort }, { onClientData: (chunk) => { wire.push(chunk.toString('latin1')); } });
  try {
    const offered = await openInbox(plain);
    assert.ok(!offered.some((c) => esearch.test(c)), `no ESEARCH offered: ${offered.join(' ')}`);
    const b = await makeBot({ mailboxUrl: `imap://${plain.user}@${tap.host}:${tap.port}/INBOX`, mailboxPassword: plain.password, outboxUrl: smtp.url,
      redisUrl: redis.url, config: { queue: { prefix: 'ztrust-plain-search' } } });
    await backlogAcrossWindows(plain, b);
    const searches = wire.join('').split(/\r\n/).filter((l) => /^\S+ UID SEARCH /i.test(l));
    assert.ok(searches.length >= 2, `the new UIDs and the large ones were searched for:\n${searches.join('\n')}`);
    assert.deepEqual(searches.filter((l) => /RETURN/i.test(l)), [], 'no SEARCH asked for an ESEARCH answer');
  } finally {
    await Promise.allSettled([tap.stop(), plain.stop()]);
  }
});

/**
 * Logs in, opens INBOX (which makes a new instance's Maildir, for a
 * backlog written straight into it) and returns what the server says it
 * can do after login (the list imapflow was given).
 */
async function openInbox(d: DovecotHandle): Promise<string[]> {
  const c = new ImapFlow({ host: d.host, port: d.imapPort, secure: false, auth: { user: d.user, pass: d.password }, logger: false });
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    return [...c.capabilities.keys()];
  } finally {
    await c.logout();
  }
}

async function backlogAcrossWindows(dovecot: DovecotHandle, bot: BotSetup): Promise<void> {
  await openInbox(dovecot);
  const n = INTAKE_BOUNDS.fetchBatchMessages + INTAKE_BOUNDS.sizeWindowMessages + 7;
  const requests = new Set([0, 1, INTAKE_BOUNDS.fetchBatchMessages - 1, INTAKE_BOUNDS.fetchBatchMessages, n - 8, n - 7, n - 1]);
  // A quoted earlier post (about 2 KB), so the bytes are mostly mail, not IMAP framing.
  const quoted = '> We IPL the guest from the reader after the kernel update and it comes up fine.\n'.repeat(26);
  // Over a batch's share of bytes (fetchBatchBytes / fetchBatchMessages): found by the SEARCH, sized by FETCH.
  const share = INTAKE_BOUNDS.fetchBatchBytes / INTAKE_BOUNDS.fetchBatchMessages;
  const long = quoted.repeat(Math.ceil((1.5 * share) / quoted.length));
  const longPosts = new Set([5, INTAKE_BOUNDS.fetchBatchMessages - 2, INTAKE_BOUNDS.fetchBatchMessages + 3, n - 3]);
  const md = dovecot.maildir();
  const { uid, gid } = statSync(path.dirname(md));
  const now = Math.floor(Date.now() / 1000);
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const messageId = `<window-${i}@example.org>`;
    const raw = requests.has(i)
      ? gpg.plainMessage({ from: `window-${i}@example.org`, to: bot.address, subject: `request ${i}`, messageId }, 'HELP\n')
      : gpg.plainMessage({ from: `poster-${i % 17}@example.org`, to: 'linux-390@vm.example.edu', subject: `Re: z/VM ${i}`, messageId,
        extra: { 'List-Id': 'LINUX-390 <linux-390.vm.example.edu>', Precedence: 'list' } }, `Thanks, that worked on our LPAR (${i}).\n\n${longPosts.has(i) ? long : quoted}`);
    bytes += raw.length;
    // Zero-padded names: Dovecot gives UIDs in name order, so the requests keep their places.
    const file = path.join(md, 'new', `${now}.M${String(i).padStart(5, '0')}P${process.pid}.window,S=${raw.length}`);
    writeFileSync(file, raw);
    chownSync(file, uid, gid);
  }
  assert.match(doveadm(dovecot, ['mailbox', 'status', '-u', dovecot.user, 'messages', 'INBOX']), /messages=\d+/);

  const logBefore = dovecot.log().length;
  const sentBefore = smtp.messages.length;
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);

  const db = new Database(path.join(bot.dataDir, 'state.db'), { readonly: true });
  const rows = db.prepare("SELECT message_id, state, outcome, uid FROM spool WHERE message_id LIKE '<window-%'").all() as
    { message_id: string; state: string; outcome: string | null; uid: number }[];
  db.close();
  assert.equal(rows.length, n, 'one spool row per message');
  assert.ok(rows.every((x) => x.state === 'done'), 'every message finished');
  const answered = rows.filter((x) => x.outcome !== TRIAGED_OUTCOME).map((x) => x.message_id).sort();
  assert.deepEqual(answered, [...requests].map((i) => `<window-${i}@example.org>`).sort(), 'only the requests are more than list traffic');
  // The requests sit where they were put: the first window's last and the second's first among them.
  const uidOf = new Map(rows.map((x) => [x.message_id, Number(x.uid)]));
  const first = uidOf.get('<window-0@example.org>')!;
  for (const i of requests) assert.equal(uidOf.get(`<window-${i}@example.org>`), first + i, `request ${i} has UID first+${i}`);

  const replies = await Promise.all(smtp.messages.slice(sentBefore).map(readReply));
  assert.deepEqual(replies.map((x) => x.inReplyTo).sort(), [...requests].map((i) => `<window-${i}@example.org>`).sort(), 'one reply per request');
  for (const reply of replies) await assertBotMail(reply.raw, bot.botPublicKey);

  const out = [...dovecot.log().slice(logBefore).matchAll(/imap\(bot\).*Logged out in=\d+ out=(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(out.length, 1, `one session, logged out:\n${dovecot.log().slice(logBefore)}`);
  console.log(`Dovecot sent the bot ${out[0]} bytes for ${n} messages of ${bytes} bytes (${(out[0] / bytes).toFixed(3)}x)`);
  // One batch (200 messages) fetched twice would be 1.17x on its own.
  assert.ok(out[0] > bytes && out[0] < bytes * 1.12, `Dovecot sent ${out[0]} bytes for ${bytes} bytes of mail: each message once`);
}

/**
 * n posts of about 10 KB for `user` (a new Dovecot user), the last a signed
 * HELP request to `to`; posts in `longPosts` six times as long. The first
 * goes by LMTP, which makes the user's Maildir, the rest straight into it,
 * in order. Returns the bytes of mail; message ids are <prefix-i@example.org>.
 */
async function fillBacklog(user: string, prefix: string, n: number, to: string, longPosts = new Set<number>()): Promise<number> {
  await dovecot.addUser(user, dovecot.password);
  const quoted = '> We IPL the guest from the reader after the kernel update and it comes up fine.\n'.repeat(120);
  const long = quoted.repeat(6);
  const md = dovecot.maildir(user);
  const now = Math.floor(Date.now() / 1000);
  let bytes = 0;
  let owner: { uid: number; gid: number } | undefined;
  for (let i = 0; i < n; i++) {
    const messageId = `<${prefix}-${i}@example.org>`;
    const raw = i === n - 1
      ? gpg.plainMessage({ from: `${prefix}-asker@example.org`, to, subject: 'help', messageId }, 'HELP\n')
      : gpg.plainMessage({ from: `poster-${i % 17}@example.org`, to: 'linux-390@vm.example.edu', subject: `Re: z/VM ${i}`, messageId,
        extra: { 'List-Id': 'LINUX-390 <linux-390.vm.example.edu>', Precedence: 'list' } }, `Same here (${i}).\n\n${longPosts.has(i) ? long : quoted}`);
    bytes += raw.length;
    if (i === 0) {
      await dovecot.deliver(raw, { user });
      continue;
    }
    const file = path.join(md, 'new', `${now}.M${String(i).padStart(5, '0')}P${process.pid}.${prefix},S=${raw.length}`);
    owner ??= statSync(path.dirname(md));
    writeFileSync(file, raw);
    chownSync(file, owner.uid, owner.gid);
  }
  assert.match(doveadm(dovecot, ['mailbox', 'status', '-u', user, 'messages', 'INBOX']), new RegExp(`messages=${n}\\b`));
  return bytes;
}

/** Poll until `ok()` holds; fail after `ms`, naming what was awaited. */
async function waitFor(ok: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(100);
  }
}

/** The spool rows of posts whose ids start with `prefix`, from the bot's state.db. */
function spoolRows(dataDir: string, prefix: string): { state: string; outcome: string | null }[] {
  const db = new Database(path.join(dataDir, 'state.db'), { readonly: true });
  try {
    return db.prepare('SELECT state, outcome FROM spool WHERE message_id LIKE ?').all(`<${prefix}-%`) as { state: string; outcome: string | null }[];
  } catch {
    return []; // not created yet
  } finally {
    db.close();
  }
}

/** The one reply to the backlog's request (its last post), checked by gpg and Python's email parser. */
async function assertOneReply(sentBefore: number, prefix: string, n: number, key: string): Promise<void> {
  const replies = await Promise.all(smtp.messages.slice(sentBefore).map(readReply));
  assert.deepEqual(replies.map((x) => x.inReplyTo), [`<${prefix}-${n - 1}@example.org>`]);
  await assertBotMail(replies[0].raw, key);
}

// Found by review: commands the intake asks for ahead (the next window's
// UID SEARCH LARGER, behind a batch fetch) wait in imapflow's queue, one
// command on the wire at a time, so their time bound must include the wait.
// On a slow link a first batch of 200 posts takes longer than the 10 s
// command bound; a command behind it (the RFC822.SIZE of the next window's
// large posts) must not be taken for a dead connection. A link of 150 KB/s
// (a throttling proxy in front of Dovecot), 230 posts of about 10 KB in two
// windows, two of 60 KB in the second, a request at the end.
test('a backlog over a slow link: commands asked ahead wait for the batch before them, not time out', async () => {
  const user = 'slowlink';
  const n = INTAKE_BOUNDS.fetchBatchMessages + 30;
  const proxy = await startTcpProxy({ host: dovecot.host, port: dovecot.imapPort }, { downstreamBytesPerSecond: 150 * 1024 });
  const slow = await makeBot({ mailboxUrl: `imap://${user}@127.0.0.1:${proxy.port}/INBOX`, mailboxPassword: dovecot.password,
    outboxUrl: smtp.url, redisUrl: redis.url, config: { queue: { redisUrl: redis.url, prefix: 'slowlink' } } });
  try {
    // Two posts of the second window over a batch's share of bytes: their RFC822.SIZE is asked for while the
    // first batch is still coming in.
    const bytes = await fillBacklog(user, 'slow', n, slow.address,
      new Set([INTAKE_BOUNDS.fetchBatchMessages + 2, INTAKE_BOUNDS.fetchBatchMessages + 20]));
    // The first batch alone takes longer on this link than one command may.
    assert.ok((INTAKE_BOUNDS.fetchBatchMessages * bytes) / n / (150 * 1024) > 12, 'the first batch outlasts the 10 s command bound');

    const sentBefore = smtp.messages.length;
    const r = await runCli(['run', '--once', '--config', slow.configPath], slow.env);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /no answer to/);
    const rows = spoolRows(slow.dataDir, 'slow');
    assert.equal(rows.length, n, 'every post is recorded');
    assert.ok(rows.every((x) => x.state === 'done'));
    assert.equal(rows.filter((x) => x.outcome === TRIAGED_OUTCOME).length, n - 1);
    await assertOneReply(sentBefore, 'slow', n, slow.botPublicKey);
  } finally {
    await proxy.stop();
  }
});

// A batch fetch is given time for its bytes at the slowest rate allowed: for
// 200 small posts, each counted at a batch's share of bytes, over two
// minutes. A connection that goes silent in the middle of one (a NAT box
// forgetting it: no FIN, no RST) must be replaced as soon as an unanswered
// command's would be, not when that allowance runs out. The live worker
// (`run`), 230 posts over a 200 KB/s link; the link is cut 4 s in, while the
// first batch (about 2 MB, 10 s on this link) is coming in.
test('a connection that goes silent during a batch fetch is replaced within the command bound, and the backlog finishes', { timeout: 120_000 }, async () => {
  const user = 'stalled';
  const n = INTAKE_BOUNDS.fetchBatchMessages + 30;
  const proxy = await startTcpProxy({ host: dovecot.host, port: dovecot.imapPort }, { downstreamBytesPerSecond: 200 * 1024 });
  let worker: RunningCli | undefined;
  let stderr: string | undefined;
  try {
    const cut = await makeBot({ mailboxUrl: `imap://${user}@127.0.0.1:${proxy.port}/INBOX`, mailboxPassword: dovecot.password,
      outboxUrl: smtp.url, redisUrl: redis.url, config: { queue: { redisUrl: redis.url, prefix: 'stalled' } } });
    const bytes = await fillBacklog(user, 'stalled', n, cut.address);
    const share = INTAKE_BOUNDS.fetchBatchBytes / INTAKE_BOUNDS.fetchBatchMessages;
    assert.ok(share / (bytes / n) > 3, 'small posts are counted at more than three times their size');
    const sentBefore = smtp.messages.length;
    worker = startCli(['run', '--config', cut.configPath], { ...cut.env, ZTRUST_LOG_LEVEL: 'warn' });
    await waitFor(() => proxy.accepted === 1, 20_000, 'the worker connects');
    // Login, SELECT and the first SEARCH take well under a second; the first batch then comes in for about 10 s.
    await sleep(4_000);
    assert.equal(spoolRows(cut.dataDir, 'stalled').length, 0, 'the first batch is still coming in when the link is cut');
    assert.equal(proxy.blackhole(), 1);
    const cutAt = Date.now();
    await waitFor(() => proxy.accepted === 2, 60_000, 'a new connection');
    const replacedMs = Date.now() - cutAt;
    console.log(`the silent connection was replaced ${replacedMs} ms after the link was cut`);
    assert.ok(replacedMs <= IMAP_COMMAND_TIMEOUT_MS + 5_000, `replaced after ${replacedMs} ms, not within the command bound`);
    await waitFor(() => spoolRows(cut.dataDir, 'stalled').filter((x) => x.state === 'done').length === n, 60_000, 'the backlog finishes');
    const rows = spoolRows(cut.dataDir, 'stalled');
    assert.equal(rows.length, n, 'every post is recorded once');
    assert.equal(rows.filter((x) => x.outcome === TRIAGED_OUTCOME).length, n - 1);
    await smtp.waitFor(sentBefore + 1, 30_000);
    await sleep(500); // no second reply on its way
    await assertOneReply(sentBefore, 'stalled', n, cut.botPublicKey);
    // Stopped here, in the test's own steps, so a failure above is the one reported.
    const r = await stopCli(worker, 20_000);
    worker = undefined;
    stderr = r.stderr;
    assert.equal(r.code, 0, `the worker did not stop on SIGTERM (${r.signal ?? r.code}):\n${r.stderr}`);
  } finally {
    // A worker still stuck on the cut connection would hold the test (and then lose Redis under it).
    if (worker) await stopCli(worker, 20_000);
    await proxy.stop();
  }
  assert.match(stderr ?? '', /nothing received for 10000 ms during UID FETCH \(BODY\.PEEK\[\]\)/);
});


// run --once from cron while its mail server and its Redis go down together
// (one host rebooting, a network partition): it still ends by itself, with
// QUEUE_CONNECT and exit 1, after ONCE_REDIS_LOST_MS; the IMAP session it
// holds is dead too, so its stop must not wait on that either. Half the
// replies are sent and the first tries of the others refused (451), so the
// run is settling, with replies on a long backoff, when both go.
test('run --once whose mail server and Redis go down together ends with exit 1 within the bound; the next run answers what it left, once', { timeout: 240_000 }, async () => {
  const [ownDovecot, ownRedis] = await Promise.all([startDovecot(), startRedis()]);
  const outages: Promise<void>[] = [];
  try {
    const b = await makeBot({ mailboxUrl: ownDovecot.imapUrl, mailboxPassword: ownDovecot.password, outboxUrl: smtp.url, redisUrl: ownRedis.url,
      config: { queue: { redisUrl: ownRedis.url, prefix: 'both-down' }, outbox: { backoffSeconds: 60 } } });
    const ids = Array.from({ length: 6 }, (_, i) => `both-down-${i}`);
    for (const id of ids) {
      await ownDovecot.deliver(gpg.plainMessage({ from: `${id}@example.org`, to: b.address, subject: id, messageId: `<${id}@example.org>` }, 'HELP\n'));
    }
    const { acceptedBefore } = await runOnceThroughOutage(b, smtp, ids, () => {
      outages.push(ownDovecot.restart({ downMs: ONCE_REDIS_LOST_MS + 20_000 }), ownRedis.restart(ONCE_REDIS_LOST_MS + 20_000));
    });
    await Promise.all(outages.splice(0));
    await assertNextRunAnswersOnce(b, smtp, ids, acceptedBefore);
  } finally {
    await Promise.allSettled(outages);
    await Promise.allSettled([ownDovecot.stop(), ownRedis.stop()]);
  }
});
