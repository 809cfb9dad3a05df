/**
 * Issue 12, item 3, on the real stack: the bot's key is rotated by a trust
 * root version, approved by mail, while the long-running worker runs.
 * Dovecot (LMTP delivery, IMAP IDLE intake), a harness Redis, the harness
 * SMTP listener, the bot run as its CLI, and every key and signed mail made
 * by GnuPG.
 *
 *   - root version 1 by mail: `root init` asks Alice and Bob (threshold 2),
 *     who approve, inline and PGP/MIME; `digest --now` sends digest 1,
 *     signed by the bot's first key;
 *   - with `run` running, the operator runs `root propose --new-bot-key`;
 *     Alice and Bob approve ROOT-2 by mail; the worker publishes it, switches
 *     to the new key without a restart and sends digest 2 at once, signed
 *     by the old key AND the new one: GnuPG, holding both, reports two good
 *     signatures on every copy (PGP/MIME to a person, inline to the list),
 *     and Python's email package reads each without a defect;
 *   - replies after that are signed by the new key alone;
 *   - offline: `root verify` from the saved root 1 reaches version 2 and
 *     its bot key; `verify-digest --root` across the rotation passes with
 *     both keys given and fails, naming the previous digest, with the new
 *     key alone; a restart (`run --once`) starts without a mismatch and
 *     makes no second announcing digest.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type CapturedMail, type SmtpHandle } from '../harness/smtp.js';
import { assertBotMail, readWithPython } from '../harness/mailcheck.js';
import { importCommunity, mailFields, makeBot, runCli, startCli, type BotSetup, type CliResult } from './bot.js';
import { dataLayout } from '../../src/datadir.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let g: GpgHome;
let bot: BotSetup;
let worker: { child: ChildProcess; done: Promise<CliResult> } | null = null;
const work = mkdtempSync(path.join(tmpdir(), 'zt-rotation-'));
const fpr: Record<string, string> = {};

const BOT = 'ztrust-bot@example.org';
const OPS = 'ops@example.org';
const LIST = 'linux-390@example.org';
const UIDS = { alice: 'Alice Admin <alice@community.test>', bob: 'Bob Builder <bob@community.test>' } as const;
type Who = keyof typeof UIDS;
const addr = (w: Who) => /<(.+)>/.exec(UIDS[w])![1];
const hdr = (w: Who, id: string, subject = 'request') => ({ from: UIDS[w], to: BOT, subject, messageId: `<${id}@rotation.test>` });
const colDir = () => path.join(bot.dataDir, 'collection');
const digestFile = (n: number) => path.join(dataLayout(bot.dataDir).digests, `${String(n).padStart(6, '0')}.txt`);
let oldPublic = '';
let newPublic = '';
let newFpr = '';
const savedRoot1 = path.join(work, 'saved-root-1.txt');

const cli = async (args: string[]): Promise<CliResult> => runCli([...args, '--config', bot.configPath], bot.env);

/** Mails the listener got after index `from`, once `n` more arrived (the worker runs on its own). */
async function next(from: number, n: number, timeoutMs = 60_000): Promise<CapturedMail[]> {
  return (await smtp.waitFor(from + n, timeoutMs)).slice(from, from + n);
}

/** Every mail after index `from`, once `done` holds for them (the worker runs on its own). */
async function until(from: number, done: (mails: CapturedMail[]) => boolean, timeoutMs = 90_000): Promise<CapturedMail[]> {
  for (const end = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 100))) {
    const mails = smtp.messages.slice(from);
    if (done(mails)) return mails;
    if (Date.now() > end) throw new Error(`waited ${timeoutMs} ms; got ${mails.map((m) => m.recipients.join(',')).join('; ')}`);
  }
}

const subjectOf = (m: CapturedMail): string => /^Subject: (.*)$/m.exec(m.raw.toString('latin1'))?.[1] ?? '';

/** The VALIDSIG fingerprints gpg reports (the primary key's, last field). */
const goodSigners = (status: string): string[] =>
  status.split('\n').filter((l) => l.startsWith('[GNUPG:] VALIDSIG ')).map((l) => l.trim().split(' ').at(-1)!).sort();

/** The approval requests of a root draft: one per maintainer, each with the draft's digest. */
async function approvalRequests(mails: CapturedMail[], version: number): Promise<string> {
  const infos = await Promise.all(mails.map(mailFields));
  assert.deepEqual(infos.map((i) => i.to).sort(), [addr('alice'), addr('bob')]);
  const digests = new Set(infos.map((i) => i.fields['Root-Digest']));
  assert.equal(digests.size, 1);
  for (const i of infos) assert.equal(i.fields.Root, `ROOT-${version}`);
  const digest = [...digests][0];
  assert.match(digest, /^[0-9a-f]{64}$/);
  return digest;
}

async function approve(version: number, digest: string, id: string): Promise<void> {
  await dovecot.deliver(await g.inlineMessage(fpr.alice, hdr('alice', `${id}-alice`), `APPROVE ROOT-${version} ${digest}\nTo: ${BOT}\n`));
  await dovecot.deliver(await g.pgpMimeMessage(fpr.bob, hdr('bob', `${id}-bob`), `APPROVE ROOT-${version} ${digest}\nTo: ${BOT}\n`));
}

before(async () => {
  [dovecot, redis, smtp, g] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  for (const w of ['alice', 'bob'] as Who[]) fpr[w] = await g.genKey(UIDS[w]);
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url, address: BOT,
    config: {
      maintainers: [fpr.alice, fpr.bob], threshold: 2, queue: { redisUrl: redis.url, prefix: 'rotation' },
      lists: [{ listId: 'linux-390.example.org', address: LIST, postDigests: true }],
      digest: { recipients: [OPS] },
    },
  });
  oldPublic = bot.botPublicKey;
  const imp = await importCommunity(g, bot, (['alice', 'bob'] as Who[]).map((w) => ({ fpr: fpr[w], address: addr(w) })), work);
  assert.equal(imp.code, 0, `${imp.stdout}\n${imp.stderr}`);
});

after(async () => {
  if (worker) {
    worker.child.kill('SIGKILL');
    await worker.done;
  }
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), g?.cleanup()]);
});

describe("rotating the bot's key through the trust root, by mail, with the worker running", () => {
  test('root version 1 by mail, then digest 1 signed by the first key', async () => {
    let from = smtp.messages.length;
    const init = await cli(['root', 'init']);
    assert.equal(init.code, 0, init.stderr);
    const requests = await next(from, 2);
    for (const m of requests) await assertBotMail(m.raw, oldPublic);
    const digest = await approvalRequests(requests, 1);
    await approve(1, digest, 'root1');
    from = smtp.messages.length;
    const once = await cli(['run', '--once']);
    assert.equal(once.code, 0, once.stderr);
    assert.equal(readFileSync(path.join(colDir(), 'root', 'current'), 'latin1').split(' ')[0], '1');
    writeFileSync(savedRoot1, readFileSync(path.join(colDir(), 'root', '1.txt')));
    for (const m of smtp.messages.slice(from)) await assertBotMail(m.raw, oldPublic);

    from = smtp.messages.length;
    const d = await cli(['digest', '--now']);
    assert.equal(d.code, 0, d.stderr);
    const copies = await next(from, 2);
    assert.deepEqual(copies.map((m) => m.recipients.join(',')).sort(), [LIST, OPS].sort());
    for (const m of copies) await assertBotMail(m.raw, oldPublic);
    assert.ok(existsSync(digestFile(1)));
  });

  test('root propose --new-bot-key, approved by mail: the running worker switches keys and sends digest 2 signed by both', async () => {
    worker = startCli(['run', '--config', bot.configPath], bot.env);
    let from = smtp.messages.length;
    const propose = await cli(['root', 'propose', '--new-bot-key']);
    assert.equal(propose.code, 0, propose.stderr);
    newFpr = /made a new bot key in \S+: ([0-9A-F]{40})/.exec(propose.stdout)?.[1] ?? '';
    assert.notEqual(newFpr, '', propose.stdout);
    assert.notEqual(newFpr, bot.botFingerprint);
    const requests = await next(from, 2);
    for (const m of requests) await assertBotMail(m.raw, oldPublic);
    const digest = await approvalRequests(requests, 2);
    // The draft names the new key; until it is approved, the bot signs with the old one.
    assert.equal(readFileSync(path.join(dataLayout(bot.dataDir).keys, 'bot.pub.asc'), 'utf8'), oldPublic);

    from = smtp.messages.length;
    await approve(2, digest, 'root2');
    // Each approval's reply, the published notice (to Alice and Bob), and digest 2 (to the list and to ops).
    const isDigest = (m: CapturedMail) => subjectOf(m).startsWith('ztrust digest ');
    const mails = await until(from, (ms) => ms.filter(isDigest).length >= 2);
    const digests = mails.filter(isDigest);
    assert.deepEqual(digests.map((m) => m.recipients.join(',')).sort(), [LIST, OPS].sort());
    const others = await Promise.all(mails.filter((m) => !isDigest(m)).map(async (m) => ({ m, f: await mailFields(m) })));
    assert.deepEqual(others.map((o) => o.f.inReplyTo).filter((x) => x !== null).sort(), ['<root2-alice@rotation.test>', '<root2-bob@rotation.test>']);
    const notices = others.filter((o) => o.f.inReplyTo === null);
    assert.equal(notices.length, 1);
    assert.deepEqual(notices[0].m.recipients.slice().sort(), [addr('alice'), addr('bob')]);
    assert.equal(notices[0].f.fields.Root, 'ROOT-2');
    // Everything up to the publication is signed by the key of the root then current: the old one.
    for (const o of others) await assertBotMail(o.m.raw, oldPublic);
    assert.equal(readFileSync(path.join(colDir(), 'root', 'current'), 'latin1').split(' ')[0], '2');

    newPublic = readFileSync(path.join(dataLayout(bot.dataDir).keys, 'bot.pub.asc'), 'utf8');
    const check = await makeGpgHome();
    try {
      await check.importKeys(oldPublic);
      await check.importKeys(newPublic);
      for (const m of digests) {
        const reading = await readWithPython(m.raw);
        assert.deepEqual(reading.defects, []);
        assert.match(subjectOf(m), /^ztrust digest 2: /);
        const v = await check.verifyMail(m.raw);
        assert.equal(v.ok, true, v.status);
        assert.equal(v.kind, m.recipients.includes(LIST) ? 'inline' : 'pgpmime');
        assert.deepEqual(goodSigners(v.status), [bot.botFingerprint, newFpr].sort());
        assert.match(reading.parts.map((p) => p.text ?? '').join('\n').replace(/\s+/g, ' '), /\*\*\* THE BOT'S KEY HAS CHANGED \*\*\*.*trust root version 2 names.*signed by both keys/);
      }
      const stored = await check.run(['--status-fd', '1', '--verify'], readFileSync(digestFile(2)));
      assert.equal(stored.code, 0, stored.stderr);
      assert.deepEqual(goodSigners(stored.stdout.toString()), [bot.botFingerprint, newFpr].sort());
    } finally {
      await check.cleanup();
    }

    // A reply now is signed by the new key alone (and the old key does not check it).
    from = smtp.messages.length;
    await dovecot.deliver(await g.inlineMessage(fpr.alice, hdr('alice', 'help-after'), 'HELP\n'));
    const [reply] = await next(from, 1);
    await assertBotMail(reply.raw, newPublic);
    const oldOnly = await makeGpgHome();
    try {
      await oldOnly.importKeys(oldPublic);
      assert.equal((await oldOnly.verifyMail(reply.raw)).ok, false);
    } finally {
      await oldOnly.cleanup();
    }

    worker.child.kill('SIGTERM');
    const end = await worker.done;
    worker = null;
    assert.equal(end.code, 0, end.stderr);
  });

  test('offline: root verify reaches the new key; verify-digest across the rotation; a restart is not a mismatch and announces nothing again', async () => {
    const rv = await runCli(['root', 'verify', colDir(), '--root', savedRoot1], bot.env);
    assert.equal(rv.code, 0, rv.stderr);
    assert.match(rv.stdout, new RegExp(`bot key ${newFpr}`));
    assert.match(rv.stdout, /root version 2 verified/);

    const both = path.join(work, 'both.asc');
    const onlyNew = path.join(work, 'new.asc');
    const onlyOld = path.join(work, 'old.asc');
    writeFileSync(both, oldPublic + newPublic);
    writeFileSync(onlyNew, newPublic);
    writeFileSync(onlyOld, oldPublic);
    const pinned = ['--root', savedRoot1, '--collection', colDir()];
    const ok = await runCli(['verify-digest', digestFile(2), '--previous', digestFile(1), '--bot-key', both, ...pinned], bot.env);
    assert.equal(ok.code, 0, ok.stderr);
    const newOnly = await runCli(['verify-digest', digestFile(2), '--previous', digestFile(1), '--bot-key', onlyNew, ...pinned], bot.env);
    assert.equal(newOnly.code, 1);
    assert.match(newOnly.stderr, /previous digest: signature: it is signed by key [0-9A-F]{16}, not by the bot's key/);
    // The old key alone checks the announcing digest (a reader who has not heard of the new key yet)...
    const vkey = readFileSync(dataLayout(bot.dataDir).logVerifierKey, 'utf8').trim();
    const oldAlone = await runCli(['verify-digest', digestFile(2), '--previous', digestFile(1), '--bot-key', onlyOld, '--log-key', vkey], bot.env);
    assert.equal(oldAlone.code, 0, oldAlone.stderr);
    // ...but with --root it must be the key the current root names.
    const oldPinned = await runCli(['verify-digest', digestFile(2), '--bot-key', onlyOld, ...pinned], bot.env);
    assert.equal(oldPinned.code, 1);
    assert.match(oldPinned.stderr, new RegExp(`not ${newFpr}, the bot key of the current root \\(version 2\\)`));

    const digestsBefore = readdirSync(dataLayout(bot.dataDir).digests).filter((f) => f.endsWith('.txt')).sort();
    const from = smtp.messages.length;
    const restart = await cli(['run', '--once']);
    assert.equal(restart.code, 0, restart.stderr);
    const status = await cli(['root', 'status']);
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);
    assert.doesNotMatch(status.stdout, /MISMATCH/);
    assert.deepEqual(readdirSync(dataLayout(bot.dataDir).digests).filter((f) => f.endsWith('.txt')).sort(), digestsBefore);
    assert.equal(smtp.messages.length, from, 'nothing sent again');
    assert.equal(spawnSync('git', ['-C', colDir(), 'status', '--porcelain'], { encoding: 'utf8' }).stdout, '');
  });
});
