/**
 * Issue 12, "tested on the real stack": the trust-root ceremony BY MAIL, as
 * the README section "The trust root" describes it, on Dovecot (LMTP
 * delivery, IMAP IDLE intake), a harness Redis, the harness SMTP listener,
 * the bot run as its CLI, and every key and signed mail made by GnuPG.
 *
 *   1. three cross-signed community keys (the seed) are the maintainers,
 *      threshold 2; `root init` mails each of them an approval request, and
 *      the digest they approve is read from that mail;
 *   2. the LONG-RUNNING worker (`run`) answers the approvals as they arrive:
 *      one signed by a key outside the collection and one by a member who is
 *      no maintainer are refused and change nothing; one maintainer's
 *      approval (inline) publishes nothing; the second (PGP/MIME) publishes
 *      version 1: root/1.txt, root/current, root/1.sig/, one commit, one
 *      `root` log entry, a signed notice to every maintainer;
 *   3. the published approvals verify with GnuPG alone, in a fresh home that
 *      holds only the keys kept beside them, and `root verify` accepts them;
 *   4. a maintainer's ROOT PROPOSE adds a fourth key (a member already): all
 *      four are asked; two old maintainers are not enough without the new
 *      key (TUF's rule); with it, version 2 is published and verifies;
 *   5. `run --once` with the config that still names three maintainers
 *      refuses to start (exit 2, the mismatch named); with the fourth added
 *      it runs.
 * Every mail the bot sends is read by Python's email package and checked
 * with `gpg --verify` (test/harness/mailcheck.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle } from '../harness/smtp.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { importCommunity, logEntries as entriesOf, mailFields, makeBot, runCli, startCli, type BotSetup, type CliResult, type MailFields } from './bot.js';
import { dataLayout } from '../../src/datadir.js';
import { parseRoot } from '../../src/root/document.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let g: GpgHome;
let bot: BotSetup;
let worker: { child: ChildProcess; done: Promise<CliResult>; exited: CliResult | null } | null = null;
const work = mkdtempSync(path.join(tmpdir(), 'zt-root-it-'));
const fpr: Record<string, string> = {};

const BOT = 'ztrust-bot@example.org';
const UIDS = {
  alice: 'Alice Admin <alice@community.test>',
  bob: 'Bob Builder <bob@community.test>',
  carol: 'Carol Chair <carol@community.test>',
  dave: 'Dave Newcomer <dave@community.test>',
  sid: 'Sid Stranger <sid@elsewhere.test>',
} as const;
type Who = keyof typeof UIDS;
const MEMBERS: Who[] = ['alice', 'bob', 'carol', 'dave'];
const addr = (w: Who) => /<(.+)>/.exec(UIDS[w])![1];
const keyId = (w: Who) => fpr[w].slice(-16).toLowerCase();
const flat = (s: string) => s.replace(/\s+/g, ' ');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const colDir = () => path.join(bot.dataDir, 'collection');
const rootFile = (rel: string) => path.join(colDir(), 'root', rel);
const git = (args: string[]) => spawnSync('git', ['-C', colDir(), ...args], { encoding: 'utf8' }).stdout;

/** What the ceremony found at each step, for the steps after it. */
const found: { digest1: string; text1: string; digest2: string; text2: string } = { digest1: '', text1: '', digest2: '', text2: '' };

const logEntries = () => entriesOf(bot.dataDir);

/** Every file under root/ (relative), sorted; [] when there is none. */
function rootListing(): string[] {
  const dir = path.join(colDir(), 'root');
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).map((f) => f.split(path.sep).join('/')).sort();
}

/** Everything a refused or not-yet-sufficient approval must leave alone. */
async function snapshot() {
  return {
    head: git(['rev-parse', 'HEAD']).trim(),
    commits: Number(git(['rev-list', '--count', 'HEAD']).trim()),
    status: git(['status', '--porcelain']),
    log: (await logEntries()).length,
    root: rootListing(),
    current: existsSync(rootFile('current')) ? readFileSync(rootFile('current'), 'latin1') : null,
  };
}

interface RootStatus {
  state: string;
  current: { version: number; digest: string } | null;
  problems: string[];
  drafts: { version: number; digest: string; state: string; proposer: string; approvals: string[] }[];
}

/** `root status --json`, as the operator runs it (beside the running worker). */
async function rootStatus(code = 0): Promise<RootStatus> {
  const r = await runCli(['root', 'status', '--json', '--config', bot.configPath], bot.env);
  assert.equal(r.code, code, `${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as RootStatus;
}

/** Logins of the bot's IMAP user that Dovecot has logged so far. */
function logins(): number {
  return (dovecot.log().match(new RegExp(`imap-login: (?:Info: )?Login: user=<${dovecot.user}>,`, 'g')) ?? []).length;
}

async function startWorker(): Promise<void> {
  const before = logins();
  const w = { ...startCli(['run', '--config', bot.configPath], bot.env), exited: null as CliResult | null };
  void w.done.then((r) => { w.exited = r; });
  worker = w;
  const t0 = Date.now();
  while (logins() <= before) {
    if (w.exited) assert.fail(`the worker ended (${w.exited.code}) before it logged in:\n${w.exited.stderr}`);
    if (Date.now() - t0 > 30_000) assert.fail(`the worker did not log in within 30 s\n${dovecot.log().slice(-3000)}`);
    await sleep(50);
  }
  // Login, SELECT, the first fetch, then IDLE: a few round trips.
  await sleep(500);
}

async function stopWorker(): Promise<CliResult> {
  const w = worker!;
  worker = null;
  w.child.kill('SIGTERM');
  return w.done;
}

let seen = 0;
const read = new Map<number, MailFields>();

/**
 * The mails the bot sends from now on: waits until `complete` holds for
 * them, then `quietMs` more so that a mail too many is seen too (the caller
 * asserts the exact set). Each is read by Python and verified by gpg.
 */
async function mailsUntil(what: string, complete: (ms: MailFields[]) => boolean, quietMs = 2_000, timeoutMs = 45_000): Promise<MailFields[]> {
  const start = seen;
  const deadline = Date.now() + timeoutMs;
  const now = async () => {
    const out: MailFields[] = [];
    for (let i = start; i < smtp.messages.length; i++) {
      if (!read.has(i)) read.set(i, await mailFields(smtp.messages[i]));
      out.push(read.get(i)!);
    }
    return out;
  };
  for (let ms = await now(); !complete(ms); ms = await now()) {
    if (worker?.exited) assert.fail(`${what}: the worker ended (${worker.exited.code}):\n${worker.exited.stderr.slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`${what}: waited ${timeoutMs} ms; the bot sent ${ms.map((m) => `[${m.to} ${m.status} ${m.subject}]`).join(' ') || 'nothing'}`);
    await sleep(100);
  }
  await sleep(quietMs);
  const all = await now();
  seen = start + all.length;
  for (let i = start; i < seen; i++) await assertBotMail(smtp.messages[i].raw, bot.botPublicKey);
  return all;
}

const hdr = (w: Who, id: string, subject = 'trust root') => ({ from: UIDS[w], to: BOT, subject, messageId: `<${id}@root.test>` });

/** A signed mail from `w`, made by gpg in the form asked for, delivered over LMTP. */
async function send(w: Who, id: string, body: string, form: 'inline' | 'pgpmime'): Promise<void> {
  const raw = form === 'inline' ? await g.inlineMessage(fpr[w], hdr(w, id), body) : await g.pgpMimeMessage(fpr[w], hdr(w, id), body);
  await dovecot.deliver(raw);
}

/** The reply to one mail: waits for it (and, with `more`, for the notices that must come with it). */
async function replyTo(id: string, more: (ms: MailFields[]) => boolean = () => true): Promise<{ reply: MailFields; all: MailFields[] }> {
  const all = await mailsUntil(`the reply to <${id}@root.test>`, (ms) => ms.some((m) => m.inReplyTo === `<${id}@root.test>`) && more(ms));
  const replies = all.filter((m) => m.inReplyTo === `<${id}@root.test>`);
  assert.equal(replies.length, 1, 'one reply');
  return { reply: replies[0], all };
}

/** The approval lines a notice asks a maintainer to sign, and the root bytes it frames (whose SHA-256 that digest must be). */
function approvalRequest(m: MailFields, version: number): { digest: string; text: string } {
  const lines = new RegExp(`^ {2}APPROVE ROOT-${version}\\n {2}([0-9a-f]{64})\\n {2}To: ${BOT.replace(/\./g, '\\.')}$`, 'm').exec(m.text);
  assert.ok(lines, `no APPROVE ROOT-${version} lines in\n${m.text}`);
  const framed = /\n-----BEGIN ZTRUST ROOT-----\n([\s\S]*\n)-----END ZTRUST ROOT-----\n?$/.exec(m.text);
  assert.ok(framed, `no framed root in\n${m.text}`);
  assert.equal(createHash('sha256').update(framed[1], 'latin1').digest('hex'), lines[1], 'the digest is the SHA-256 of the root shown');
  assert.equal(m.fields.Root, `ROOT-${version}`);
  assert.equal(m.fields['Root-Digest'], lines[1]);
  return { digest: lines[1], text: framed[1] };
}

/** Refused with the exact rule, one reply to the sender, nothing else sent, nothing changed, no approval recorded. */
async function assertRefusedApproval(w: Who, id: string, body: string, form: 'inline' | 'pgpmime', rule: string, says: RegExp[]): Promise<void> {
  const before = await snapshot();
  const status = await rootStatus();
  await send(w, id, body, form);
  const { reply, all } = await replyTo(id);
  assert.equal(all.length, 1, 'one reply, no notice to anyone');
  assert.equal(reply.to, addr(w));
  assert.equal(reply.status, 'error');
  assert.ok(flat(reply.text).includes(`Rule: ${rule} `), reply.text);
  for (const re of says) assert.match(flat(reply.text), re);
  assert.deepEqual(await snapshot(), before);
  assert.deepEqual(await rootStatus(), status);
}

/**
 * The README's promise: every approval kept in root/<version>.sig/ checks
 * with GnuPG alone, in a fresh home that imports only the keys kept there.
 */
async function checkWithGnuPG(version: number, approvals: { who: Who; form: 'inline' | 'pgpmime' }[], digest: string): Promise<void> {
  const dir = rootFile(`${version}.sig`);
  const expected = approvals.flatMap(({ who, form }) => [`${fpr[who]}.key`, ...(form === 'inline' ? [`${fpr[who]}.asc`] : [`${fpr[who]}.txt`, `${fpr[who]}.txt.sig`])]);
  assert.deepEqual(readdirSync(dir).sort(), expected.sort());
  const home = await makeGpgHome();
  try {
    for (const n of readdirSync(dir).filter((f) => f.endsWith('.key'))) await home.importKeys(readFileSync(path.join(dir, n)));
    const listed = (await home.run(['--with-colons', '--list-keys'])).stdout.toString();
    const primaries = [...listed.matchAll(/^pub:[^\n]*\nfpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]).sort();
    assert.deepEqual(primaries, approvals.map((a) => fpr[a.who]).sort(), 'the fresh home holds only the kept keys');
    for (const { who, form } of approvals) {
      const f = fpr[who];
      const args = form === 'inline' ? [path.join(dir, `${f}.asc`)] : [path.join(dir, `${f}.txt.sig`), path.join(dir, `${f}.txt`)];
      const r = await home.run(['--status-fd', '1', '--verify', ...args]);
      assert.equal(r.code, 0, `gpg --verify ${args.map((a) => path.basename(a)).join(' ')}: ${r.stderr}`);
      const status = r.stdout.toString();
      assert.match(status, new RegExp(`^\\[GNUPG:\\] GOODSIG ${f.slice(-16)} `, 'm'));
      assert.match(status, new RegExp(`^\\[GNUPG:\\] VALIDSIG [0-9A-F]{40} .* ${f}$`, 'm'));
      assert.doesNotMatch(status, /BADSIG|ERRSIG/);
      // What was signed names this version and its digest.
      const signed = readFileSync(path.join(dir, form === 'inline' ? `${f}.asc` : `${f}.txt`), 'latin1');
      assert.match(flat(signed), new RegExp(`APPROVE ROOT-${version} ${digest}`));
    }
  } finally {
    await home.cleanup();
  }
}

before(async () => {
  [dovecot, redis, smtp, g] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  for (const w of Object.keys(UIDS) as Who[]) fpr[w] = await g.genKey(UIDS[w]);
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url, address: BOT,
    config: { maintainers: [fpr.alice, fpr.bob, fpr.carol], threshold: 2, queue: { redisUrl: redis.url, prefix: 'rootit' } },
  });
  // The seed: the four members certify one another (Dave is a member, not a maintainer); Sid is in no collection.
  const imp = await importCommunity(g, bot, MEMBERS.map((w) => ({ fpr: fpr[w], address: addr(w) })), work);
  assert.equal(imp.code, 0, `${imp.stdout}\n${imp.stderr}`);
});

after(async () => {
  if (worker) {
    worker.child.kill('SIGKILL');
    await worker.done;
  }
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), g?.cleanup()]);
});

describe('the trust-root ceremony by mail, end to end', () => {
  test('root init mails each maintainer the draft of version 1 and the lines to approve it; the bot stays unrooted', async () => {
    const r = await runCli(['root', 'init', '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^approval requests: 3 sent$/m);
    assert.doesNotMatch(r.stdout, /not told/);
    const told = await mailsUntil('the approval requests', (ms) => ms.length >= 3, 500);
    assert.deepEqual(told.map((m) => m.to).sort(), [addr('alice'), addr('bob'), addr('carol')]);
    const requests = told.map((m) => {
      assert.equal(m.status, 'pending');
      assert.equal(m.subject, 'Approve trust root version 1');
      return approvalRequest(m, 1);
    });
    assert.equal(new Set(requests.map((x) => x.digest)).size, 1, 'one draft');
    [found.digest1, found.text1] = [requests[0].digest, requests[0].text];
    assert.match(r.stdout, new RegExp(`^root version 1 drafted, SHA-256 ${found.digest1}$`, 'm'));
    // The draft is version 1 from the config: its three maintainers, threshold 2, the bot's key.
    const doc = parseRoot(found.text1);
    assert.deepEqual([doc.version, doc.threshold, doc.maintainers, doc.botKey, doc.previous], [1, 2, [fpr.alice, fpr.bob, fpr.carol].sort(), bot.botFingerprint, null]);
    assert.equal(doc.logKey, readFileSync(dataLayout(bot.dataDir).logVerifierKey, 'utf8').trim());

    const s = await rootStatus();
    assert.equal(s.state, 'unrooted');
    assert.equal(s.current, null);
    assert.deepEqual(s.drafts.map((d) => [d.version, d.digest, d.state, d.proposer, d.approvals]), [[1, found.digest1, 'pending', 'operator', []]]);
    assert.equal(existsSync(rootFile('current')), false);
  });

  test('the running worker: outsiders are refused, one approval publishes nothing, the second publishes version 1', { timeout: 150_000 }, async () => {
    await startWorker();
    const digest = found.digest1;
    assert.deepEqual([rootListing(), existsSync(rootFile('current'))], [[], false], 'unrooted: no root/ yet');

    await assertRefusedApproval('sid', 'sid-approves', `APPROVE ROOT-1 ${digest}\nTo: ${BOT}\n`, 'pgpmime',
      'a command that changes the collection must be signed', [/The command APPROVE changes the collection, so it must be signed/, new RegExp(keyId('sid'), 'i')]);
    await assertRefusedApproval('dave', 'dave-approves-1', `APPROVE ROOT-1 ${digest}\nTo: ${BOT}\n`, 'inline',
      'not-a-decider', [new RegExp(`key ${fpr.dave} may not approve root version 1: only the maintainers of the current root and of the draft may`)]);

    // One maintainer (inline, the digest on the command line): recorded, not published.
    const before1 = await snapshot();
    await send('alice', 'alice-approves-1', `APPROVE ROOT-1 ${digest}\nTo: ${BOT}\n\nI checked the three fingerprints.\n`, 'inline');
    const first = await replyTo('alice-approves-1');
    assert.equal(first.all.length, 1, 'one reply, no notice');
    assert.equal(first.reply.to, addr('alice'));
    assert.equal(first.reply.status, 'pending', first.reply.text);
    assert.match(flat(first.reply.text), new RegExp(`Your approval of root version 1 is recorded: SHA-256 ${digest} It now has the approvals of ${fpr.alice}\\. It takes effect when: - 1 of its own maintainers approved it, 2 must`));
    assert.deepEqual(await snapshot(), before1, 'no root file, no commit, no log entry');
    const s1 = await rootStatus();
    assert.equal(s1.state, 'unrooted');
    assert.deepEqual(s1.drafts.map((d) => [d.version, d.state, d.approvals]), [[1, 'pending', [fpr.alice]]]);

    // The second (PGP/MIME, the three lines the notice gave): version 1 is published.
    await send('bob', 'bob-approves-1', `APPROVE ROOT-1\n${digest}\nTo: ${BOT}\n`, 'pgpmime');
    const published = (ms: MailFields[]) => ms.some((m) => m.subject === 'Trust root version 1 is published');
    const second = await replyTo('bob-approves-1', published);
    assert.equal(second.reply.to, addr('bob'));
    assert.equal(second.reply.status, 'approved', second.reply.text);
    assert.match(flat(second.reply.text), new RegExp(`Root version 1 has the approvals it needs: SHA-256 ${digest} approved by ${[fpr.alice, fpr.bob].sort().join(', ')} It is being published`));
    const notices = second.all.filter((m) => m !== second.reply);
    assert.equal(notices.length, 1, notices.map((m) => `${m.to} ${m.subject}`).join('; '));
    const [notice] = notices;
    assert.deepEqual(notice.to.split(',').sort(), [addr('alice'), addr('bob'), addr('carol')], 'every maintainer is told');
    assert.equal(notice.status, 'applied');
    assert.deepEqual([notice.fields.Root, notice.fields['Root-Digest']], ['ROOT-1', digest]);

    // One commit with the root files, one `root` log entry (its index in the commit and the notice).
    const after = await snapshot();
    assert.equal(after.commits, before1.commits + 1);
    assert.equal(after.status, '');
    assert.deepEqual(after.root, ['1.sig', `1.sig/${fpr.alice}.asc`, `1.sig/${fpr.alice}.key`, `1.sig/${fpr.bob}.key`, `1.sig/${fpr.bob}.txt`,
      `1.sig/${fpr.bob}.txt.sig`, '1.txt', 'current'].sort());
    assert.equal(readFileSync(rootFile('1.txt'), 'latin1'), found.text1, 'the exact bytes the maintainers approved');
    assert.equal(after.current, `1 ${digest}\n`);
    // The commit holds the root files and the collection's signed checksum list, nothing else.
    assert.deepEqual(git(['show', '--name-only', '--format=', 'HEAD']).trim().split('\n').sort(),
      ['SHA256SUMS', 'SHA256SUMS.asc', ...after.root.filter((f) => f !== '1.sig').map((f) => `root/${f}`)].sort());
    const entries = await logEntries();
    assert.equal(entries.length, before1.log + 1);
    const e = entries.at(-1)!;
    assert.deepEqual([e.type, e.subject, e.name, [...e.signers].sort()], ['root', digest, 'ROOT-1', [fpr.alice, fpr.bob].sort()]);
    const body = git(['log', '-1', '--format=%B']);
    assert.match(body, /^Root version 1\n/);
    assert.match(body, new RegExp(`^Ztrust-Log-Index: ${entries.length - 1}$`, 'm'));
    assert.equal(notice.fields['Log-Index'], String(entries.length - 1));
    assert.match(flat(notice.text), new RegExp(`Trust root version 1 is now current: SHA-256 ${digest} approved by ${[fpr.alice, fpr.bob].sort().join(', ')} `));

    const s2 = await rootStatus();
    assert.equal(s2.state, 'rooted');
    assert.deepEqual(s2.current?.version, 1);
    assert.deepEqual(s2.drafts, []);
  });

  test('the published root checks with GnuPG alone and with root verify', async () => {
    await checkWithGnuPG(1, [{ who: 'alice', form: 'inline' }, { who: 'bob', form: 'pgpmime' }], found.digest1);
    const r = await runCli(['root', 'verify', colDir()], bot.env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^ok: root version 1 \\(sha256 ${found.digest1}\\) approved by ${[fpr.alice, fpr.bob].sort().join(', ')}$`, 'm'));
    assert.match(r.stdout, /root version 1 verified \(from version 1, trusted on first use/);
  });

  test('ROOT PROPOSE adds a maintainer: all four are asked; two old maintainers are not enough without the new key; with it, version 2', { timeout: 150_000 }, async () => {
    const before0 = await snapshot();
    await send('alice', 'alice-proposes', `ROOT PROPOSE\nTo: ${BOT}\nadd-maintainer ${fpr.dave}\n\nDave runs the release builds now.\n`, 'pgpmime');
    const proposed = await replyTo('alice-proposes', (ms) => ms.length >= 5);
    assert.equal(proposed.reply.to, addr('alice'));
    assert.equal(proposed.reply.status, 'pending', proposed.reply.text);
    assert.match(flat(proposed.reply.text), /Your proposal is drafted as root version 2: .* 4 maintainer\(s\) were mailed the draft/);
    assert.doesNotMatch(proposed.reply.text, /Not told/);
    const asked = proposed.all.filter((m) => m !== proposed.reply);
    assert.deepEqual(asked.map((m) => m.to).sort(), [addr('alice'), addr('bob'), addr('carol'), addr('dave')], 'the three maintainers and the new one');
    const requests = asked.map((m) => {
      assert.equal(m.status, 'pending');
      assert.equal(m.subject, 'Approve trust root version 2');
      assert.match(flat(m.text), new RegExp(`What changes: - adds maintainer ${fpr.dave} `));
      assert.match(flat(m.text), /It takes effect when 2 of the maintainers of root version 1 approve it, and 2 of its own \(among them every new maintainer\)\./);
      return approvalRequest(m, 2);
    });
    assert.equal(new Set(requests.map((x) => x.digest)).size, 1, 'one draft');
    [found.digest2, found.text2] = [requests[0].digest, requests[0].text];
    const digest = found.digest2;
    assert.equal(proposed.reply.fields['Root-Digest'], digest);
    const doc = parseRoot(found.text2);
    const doc1 = parseRoot(found.text1);
    assert.deepEqual([doc.version, doc.threshold, doc.maintainers, doc.botKey, doc.logKey, doc.previous],
      [2, 2, [fpr.alice, fpr.bob, fpr.carol, fpr.dave].sort(), doc1.botKey, doc1.logKey, found.digest1]);
    assert.deepEqual(await snapshot(), before0, 'proposing changes nothing');

    // Two of the three old maintainers: both recorded, still not published.
    await send('bob', 'bob-approves-2', `APPROVE ROOT-2 ${digest}\nTo: ${BOT}\n`, 'inline');
    const bob = await replyTo('bob-approves-2');
    assert.equal(bob.all.length, 1);
    assert.equal(bob.reply.status, 'pending', bob.reply.text);
    await send('carol', 'carol-approves-2', `APPROVE ROOT-2\n${digest}\nTo: ${BOT}\n`, 'pgpmime');
    const carol = await replyTo('carol-approves-2');
    assert.equal(carol.all.length, 1, 'one reply, no notice');
    assert.equal(carol.reply.to, addr('carol'));
    assert.equal(carol.reply.status, 'pending', carol.reply.text);
    assert.match(flat(carol.reply.text), new RegExp(`It now has the approvals of ${[fpr.bob, fpr.carol].sort().join(', ')}\\. It takes effect when: - the new maintainer key ${fpr.dave} did not approve it`));
    assert.deepEqual(await snapshot(), before0, 'not published: no root/2.txt, root/current unchanged, no commit, no log entry');
    assert.equal(readFileSync(rootFile('current'), 'latin1'), `1 ${found.digest1}\n`);
    const s1 = await rootStatus();
    assert.deepEqual([s1.state, s1.current?.version], ['rooted', 1]);
    assert.deepEqual(s1.drafts.map((d) => [d.version, d.state, d.proposer, d.approvals.sort()]), [[2, 'pending', fpr.alice, [fpr.bob, fpr.carol].sort()]]);

    // The new key approves: version 2 is published, and every maintainer of it is told.
    await send('dave', 'dave-approves-2', `APPROVE ROOT-2 ${digest}\nTo: ${BOT}\n`, 'inline');
    const dave = await replyTo('dave-approves-2', (ms) => ms.some((m) => m.subject === 'Trust root version 2 is published'));
    assert.equal(dave.reply.status, 'approved', dave.reply.text);
    const v2By = [fpr.bob, fpr.carol, fpr.dave].sort().join(', ');
    assert.match(flat(dave.reply.text), new RegExp(`Root version 2 has the approvals it needs: SHA-256 ${digest} approved by ${v2By} It is being published`));
    const notices = dave.all.filter((m) => m !== dave.reply);
    assert.equal(notices.length, 1);
    assert.deepEqual(notices[0].to.split(',').sort(), [addr('alice'), addr('bob'), addr('carol'), addr('dave')]);
    assert.equal(notices[0].status, 'applied');
    assert.deepEqual([notices[0].fields.Root, notices[0].fields['Root-Digest']], ['ROOT-2', digest]);
    assert.match(flat(notices[0].text), new RegExp(`Trust root version 2 is now current: SHA-256 ${digest} approved by ${v2By} `));
    const after = await snapshot();
    assert.equal(after.commits, before0.commits + 1);
    assert.equal(after.current, `2 ${digest}\n`);
    assert.equal(readFileSync(rootFile('2.txt'), 'latin1'), found.text2);
    assert.deepEqual(after.root.filter((f) => f.startsWith('2')), ['2.sig', ...[fpr.bob, fpr.carol, fpr.dave].flatMap((f) => [`2.sig/${f}.key`]),
      `2.sig/${fpr.bob}.asc`, `2.sig/${fpr.carol}.txt`, `2.sig/${fpr.carol}.txt.sig`, `2.sig/${fpr.dave}.asc`, '2.txt'].sort());
    assert.deepEqual(git(['show', '--name-only', '--format=', 'HEAD']).trim().split('\n').sort(),
      ['SHA256SUMS', 'SHA256SUMS.asc', 'root/current', ...after.root.filter((f) => f.startsWith('2') && f !== '2.sig').map((f) => `root/${f}`)].sort());
    const entries = await logEntries();
    assert.equal(entries.length, before0.log + 1);
    const e = entries.at(-1)!;
    assert.deepEqual([e.type, e.subject, e.name, [...e.signers].sort()], ['root', digest, 'ROOT-2', [fpr.bob, fpr.carol, fpr.dave].sort()]);
    await checkWithGnuPG(2, [{ who: 'bob', form: 'inline' }, { who: 'carol', form: 'pgpmime' }, { who: 'dave', form: 'inline' }], digest);

    const v = await runCli(['root', 'verify', colDir()], bot.env);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    assert.match(v.stdout, new RegExp(`^ok: root version 2 \\(sha256 ${digest}\\) approved by ${[fpr.bob, fpr.carol, fpr.dave].sort().join(', ')}$`, 'm'));
    assert.match(v.stdout, /^current root: version 2, /m);
    assert.match(v.stdout, /root version 2 verified/);
    const saved = path.join(work, 'saved-root-1.txt');
    writeFileSync(saved, found.text1);
    const pinned = await runCli(['root', 'verify', colDir(), '--root', saved, '--json'], bot.env);
    assert.equal(pinned.code, 0, pinned.stderr);
    const j = JSON.parse(pinned.stdout) as { ok: boolean; version: number; digest: string; maintainers: string[] };
    assert.deepEqual([j.ok, j.version, j.digest, j.maintainers], [true, 2, digest, [fpr.alice, fpr.bob, fpr.carol, fpr.dave].sort()]);

    // The config (three maintainers) no longer matches the root: root status says so and which way to fix it.
    const s2 = await rootStatus(1);
    assert.deepEqual([s2.state, s2.current?.version], ['mismatch', 2]);
    assert.equal(s2.problems.length, 1);
    assert.match(s2.problems[0], new RegExp(`^root version 2 names maintainer ${fpr.dave}, which the config does not: either set the config back to root version 2, or have the maintainers approve a new root version`));
  });

  test('restarted, the bot refuses to run while the config disagrees with the root, and runs once it follows it', { timeout: 120_000 }, async () => {
    const stopped = await stopWorker();
    assert.equal(stopped.code, 0, stopped.stderr);
    const before0 = await snapshot();
    const mails = smtp.messages.length;
    const refused = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
    assert.equal(refused.code, 2, `${refused.stdout}\n${refused.stderr}`);
    // Exactly the mismatch, and both ways to fix it (the operator reads this at the terminal).
    assert.equal(refused.stderr, `ztrust-bot: root version 2 names maintainer ${fpr.dave}, which the config does not: either set the config back to root version 2,`
      + ' or have the maintainers approve a new root version with the change (ztrust-bot root propose, or ROOT PROPOSE by mail)\n');
    assert.deepEqual(await snapshot(), before0);
    assert.equal(smtp.messages.length, mails, 'it sent nothing');

    const doc = YAML.parse(readFileSync(bot.configPath, 'utf8')) as { maintainers: string[] };
    doc.maintainers = [...doc.maintainers, fpr.dave];
    writeFileSync(bot.configPath, YAML.stringify(doc));
    const ran = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
    assert.equal(ran.code, 0, `${ran.stdout}\n${ran.stderr}`);
    assert.doesNotMatch(ran.stderr, /does not match the trust root/);
    const s = await rootStatus();
    assert.deepEqual([s.state, s.current?.version, s.problems], ['rooted', 2, []]);
  });
});
