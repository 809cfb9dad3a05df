/**
 * Issue 11, item 2, on the real stack: Dovecot (LMTP delivery, IMAP
 * intake), a harness Redis, the harness SMTP listener, the bot run as its
 * CLI (`ztrust-bot import`, `ztrust-bot run --once`), and every key and
 * signed mail made by GnuPG.
 *
 *   - three community keys cross-sign and are imported as the seed; they are
 *     the maintainers (2 of 3);
 *   - Alice, a member, vouches with SUBMIT SOURCE KEY openssh-9.8p1
 *     openssh-9.9p1 for an Ed25519 upstream key gpg made, attached to her
 *     PGP/MIME mail; Bob and Carol approve by signed mail built from their
 *     notices; the collection gets one commit with the key file (the exact
 *     armour approved) and two rows of key-and-source.md, the log one
 *     `source-key-added` entry naming her and the ticket, and the store's
 *     index answers for the release;
 *   - Bob adds openssh-9.9p2 with ADD SOURCE: one `source-release-added`
 *     entry and one row;
 *   - refused, each with its exact rule and nothing changed (no ticket, no
 *     commit, no log entry, no row): a vouch signed by a key outside the
 *     collection, an upstream key whose only self-signature is SHA-1, a bad
 *     release name, ADD SOURCE for a key not in pgp/for-source/.
 * Every mail the bot sends is read by Python's email package and checked
 * with `gpg --verify` (test/harness/mailcheck.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type CapturedMail, type SmtpHandle } from '../harness/smtp.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { mailFields, makeBot, runCli, type BotSetup, type MailFields } from './bot.js';
import { dataLayout } from '../../src/datadir.js';
import { openLogView } from '../../src/digest/logview.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { parseEntry, type LogEntry } from '../../src/tlog/index.js';
import { unframeContent } from '../../src/tickets/ticket.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let g: GpgHome;
let bot: BotSetup;
const work = mkdtempSync(path.join(tmpdir(), 'zt-source-'));
const fpr: Record<string, string> = {};

const BOT = 'ztrust-bot@example.org';
const UIDS = {
  alice: 'Alice Admin <alice@community.test>',
  bob: 'Bob Builder <bob@community.test>',
  carol: 'Carol Chair <carol@community.test>',
  sid: 'Sid Stranger <sid@elsewhere.test>',
  djm: 'Damien Miller <djm@mindrot.org>',
  old: 'Old Upstream <release@old-upstream.test>',
} as const;
type Who = keyof typeof UIDS;
const addr = (w: Who) => /<(.+)>/.exec(UIDS[w])![1];
const keyId = (w: Who) => fpr[w].slice(-16).toLowerCase();
const hdr = (w: Who, id: string, subject = 'request') => ({ from: UIDS[w], to: BOT, subject, messageId: `<${id}@source.test>` });
const flat = (s: string) => s.replace(/\s+/g, ' ');

const colDir = () => path.join(bot.dataDir, 'collection');
const sourceDir = () => path.join(colDir(), 'pgp', 'for-source');
const git = (args: string[]) => spawnSync('git', ['-C', colDir(), ...args], { encoding: 'utf8' }).stdout;
const djmFile = () => `0x${keyId('djm')}-djm@mindrot.org-signing.asc`;

async function run(): Promise<CapturedMail[]> {
  const before = smtp.messages.length;
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
  const mails = smtp.messages.slice(before);
  // Every mail the bot sends: Python reads it without a defect, gpg verifies it.
  for (const m of mails) await assertBotMail(m.raw, bot.botPublicKey);
  return mails;
}

const info = mailFields;
type Info = MailFields;

async function logEntries(): Promise<LogEntry[]> {
  const view = await openLogView(dataLayout(bot.dataDir).log);
  if (!view) return [];
  const out: LogEntry[] = [];
  for (let i = 0; i < view.size; i++) out.push(parseEntry(await view.entry(i)));
  return out;
}

async function withStore<T>(f: (s: SqliteStore) => Promise<T>): Promise<T> {
  const s = SqliteStore.open(dataLayout(bot.dataDir).stateDb);
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

/** Everything a refused vouch must leave alone. */
async function snapshot() {
  const list = path.join(sourceDir(), 'key-and-source.md');
  return {
    tickets: await withStore(async (s) => (await s.listTickets()).map((t) => `${t.id} ${t.state}`)),
    changes: await withStore(async (s) => (await s.listChanges()).length),
    head: git(['rev-parse', 'HEAD']).trim(),
    status: git(['status', '--porcelain']),
    log: (await logEntries()).length,
    list: existsSync(list) ? readFileSync(list, 'utf8') : null,
    folder: existsSync(sourceDir()) ? readdirSync(sourceDir()).sort() : [],
  };
}

/** One mail in, exactly one reply out: Status: error, the rule and the words expected; nothing changed. */
async function assertRefused(raw: Buffer, id: string, to: Who, rule: string, says: RegExp[]): Promise<void> {
  const before = await snapshot();
  await dovecot.deliver(raw);
  const infos = await Promise.all((await run()).map(info));
  assert.equal(infos.length, 1, 'one reply, no notice to anyone');
  const [r] = infos;
  assert.equal(r.inReplyTo, `<${id}@source.test>`);
  assert.equal(r.to, addr(to));
  assert.equal(r.status, 'error');
  assert.ok(flat(r.text).includes(`Rule: ${rule} `), r.text);
  for (const re of says) assert.match(flat(r.text), re);
  assert.deepEqual(await snapshot(), before);
}

/** The three members' maintainer notices for `ticket`, and the submitter's reply. */
async function approveBy(ticket: { id: string; digest: string }, a: Who, b: Who, id: string): Promise<Info[]> {
  await dovecot.deliver(await g.inlineMessage(fpr[a], hdr(a, `${id}-${a}`), `APPROVE ${ticket.id}\n${ticket.digest}\nTo: ${BOT}\n`));
  await dovecot.deliver(await g.pgpMimeMessage(fpr[b], hdr(b, `${id}-${b}`), `APPROVE ${ticket.id} ${ticket.digest}\nTo: ${BOT}\n`));
  return Promise.all((await run()).map(info));
}

before(async () => {
  [dovecot, redis, smtp, g] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  for (const w of ['alice', 'bob', 'carol', 'sid'] as Who[]) fpr[w] = await g.genKey(UIDS[w]);
  fpr.djm = await g.genKey(UIDS.djm, { algo: 'ed25519', encryptSubkey: false });
  // An upstream key from the old days: its only self-signature is made with SHA-1.
  const old = await g.run(['--status-fd', '1', '--cert-digest-algo', 'SHA1', '--quick-gen-key', UIDS.old, 'rsa3072', 'sign,cert', 'never']);
  assert.equal(old.code, 0, old.stderr);
  fpr.old = /KEY_CREATED \w ([0-9A-F]{40})/.exec(old.stdout.toString())![1];
  const packets = await g.run(['--list-packets'], await g.exportPublic(fpr.old));
  assert.match(packets.stdout.toString(), /sigclass 0x13\n\s*digest algo 2,/, 'gpg made the self-signature with SHA-1');
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url, address: BOT,
    config: { maintainers: [fpr.alice, fpr.bob, fpr.carol], threshold: 2, queue: { redisUrl: redis.url, prefix: 'source' } },
  });
  await g.importKeys(bot.botPublicKey);
  const community: Who[] = ['alice', 'bob', 'carol'];
  for (const a of community) for (const b of community) if (a !== b) await g.signKey(fpr[a], fpr[b]);
  const seed = path.join(work, 'seed', 'ztrust');
  mkdirSync(path.join(seed, 'pgp', 'all'), { recursive: true });
  for (const w of community) writeFileSync(path.join(seed, 'pgp', 'all', `0x${keyId(w)}-${addr(w)}-public.asc`), await g.exportPublic(fpr[w]));
  const imp = await runCli(['import', path.dirname(seed), '--config', bot.configPath], bot.env);
  assert.equal(imp.code, 0, `${imp.stdout}\n${imp.stderr}`);
});

after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), g?.cleanup()]);
});

describe('vouching for source-signing keys by mail, end to end', () => {
  test('a member vouches for an upstream key (SUBMIT SOURCE KEY), two maintainers approve: one commit, one log entry, two rows', async () => {
    const djmKey = await g.exportPublic(fpr.djm);
    await dovecot.deliver(await g.pgpMimeMessage(fpr.alice, hdr('alice', 'vouch', 'the OpenSSH release key'),
      `SUBMIT SOURCE KEY openssh-9.8p1 openssh-9.9p1\nTo: ${BOT}\nChecked: https://www.openssh.com/pgp.html and the 9.8 release notes\n\nThe key is attached.\n`,
      { attachments: [{ filename: 'djm.asc', contentType: 'application/pgp-keys', content: djmKey }] }));
    const opened = await Promise.all((await run()).map(info));
    assert.equal(opened.length, 4, opened.map((i) => `${i.to} ${i.status}`).join('; '));
    const reply = opened.find((i) => i.inReplyTo === '<vouch@source.test>')!;
    assert.equal(reply.status, 'pending', reply.text);
    assert.equal(reply.to, addr('alice'));
    assert.match(flat(reply.text), /you vouch that this key signs openssh-9\.8p1 openssh-9\.9p1;/);
    const notices = opened.filter((i) => i !== reply);
    assert.deepEqual(notices.map((n) => n.to).sort(), [addr('alice'), addr('bob'), addr('carol')]);
    const ticket = { id: reply.fields.Ticket, digest: reply.fields['Ticket-Digest'] };
    let approved = '';
    for (const n of notices) {
      assert.equal(n.fields.Ticket, ticket.id);
      assert.match(flat(n.text), /This is not a member key and needs no community certification\./);
      assert.match(flat(n.text), /the Checked: lines of the ticket say where the member checked it/);
      const content = unframeContent(n.text)!;
      assert.equal(createHash('sha256').update(content).digest('hex'), ticket.digest, 'the digest is the SHA-256 of the content shown');
      for (const l of ['Kind: add-source-key', `Subject: ${fpr.djm}`, `Submitter: ${fpr.alice}`, `User-ID: ${UIDS.djm}`,
        'Releases: openssh-9.8p1 openssh-9.9p1', `Vouched-By: ${fpr.alice}`, 'Checked: https://www.openssh.com/pgp.html and the 9.8 release notes']) {
        assert.ok(content.split('\n').includes(l), `${l} in\n${content}`);
      }
      // The data: the rows the list gains, then the armour of the key file.
      const data = content.slice(content.indexOf('\n\n') + 2);
      assert.ok(data.startsWith(`    ${djmFile()}  openssh-9.8p1\n    ${djmFile()}  openssh-9.9p1\n\n`), data);
      approved = data.slice(data.indexOf('-----BEGIN PGP PUBLIC KEY BLOCK-----'));
    }
    assert.match(approved, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n[\s\S]*-----END PGP PUBLIC KEY BLOCK-----\n$/);

    const before = await snapshot();
    const commitsBefore = Number(git(['rev-list', '--count', 'HEAD']).trim());
    const decided = await approveBy(ticket, 'bob', 'carol', 'approve-vouch');
    assert.deepEqual(decided.filter((i) => i.to === addr('alice')).map((i) => i.status).sort(), ['applied', 'approved']);

    // One commit, holding exactly the key file and the list.
    assert.equal(Number(git(['rev-list', '--count', 'HEAD']).trim()), commitsBefore + 1);
    const changed = git(['show', '--name-only', '--format=', 'HEAD']).trim().split('\n').filter((f) => f.startsWith('pgp/'));
    assert.deepEqual(changed.sort(), [`pgp/for-source/${djmFile()}`, 'pgp/for-source/key-and-source.md']);
    const body = git(['log', '-1', '--format=%B']);
    assert.match(body, new RegExp(`^Add source-signing key 0x${keyId('djm')} \\(djm@mindrot\\.org\\) for openssh-9\\.8p1, openssh-9\\.9p1\\n`));
    assert.match(body, new RegExp(`^Ztrust-Ticket: ${ticket.id}$`, 'm'));
    assert.equal(readFileSync(path.join(sourceDir(), djmFile()), 'utf8'), approved, 'the exact armour the maintainers approved');
    const list = readFileSync(path.join(sourceDir(), 'key-and-source.md'), 'utf8');
    const rows = list.split('\n').filter((l) => /^\s+0x/.test(l)).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(rows, [[djmFile(), 'openssh-9.8p1'], [djmFile(), 'openssh-9.9p1']]);
    // gpg reads the stored file as the upstream key.
    const shown = await g.run(['--with-colons', '--import-options', 'show-only', '--import'], readFileSync(path.join(sourceDir(), djmFile())));
    assert.match(shown.stdout.toString(), new RegExp(`^fpr:+${fpr.djm}:`, 'm'));

    // One log entry: the member who vouched, the ticket, both releases; its index is in the commit.
    const entries = await logEntries();
    assert.equal(entries.length, before.log + 1);
    const e = entries.at(-1)!;
    assert.equal(e.type, 'source-key-added');
    assert.equal(e.subject, fpr.djm);
    assert.equal(e.name, 'openssh-9.8p1 openssh-9.9p1');
    assert.deepEqual(e.signers, [fpr.alice]);
    assert.equal(e.ticket, ticket.id);
    assert.deepEqual([...(e.approvers ?? [])].sort(), [fpr.bob, fpr.carol].sort());
    assert.match(body, new RegExp(`^Ztrust-Log-Index: ${entries.length - 1}$`, 'm'));

    const found = await withStore((s) => s.findSourceVouches({ release: 'openssh-9.8p1' }));
    assert.deepEqual(found.map((v) => [v.logIndex, v.release, v.package, v.fingerprint, v.voucher, v.ticket, v.type]),
      [[entries.length - 1, 'openssh-9.8p1', 'openssh', fpr.djm, fpr.alice, ticket.id, 'source-key-added']]);
  });

  test('ADD SOURCE: a member adds openssh-9.9p2 to the key; approved, it is one row and one source-release-added entry', async () => {
    await dovecot.deliver(await g.inlineMessage(fpr.bob, hdr('bob', 'add-release'), `ADD SOURCE 0x${keyId('djm')} openssh-9.9p1 openssh-9.9p2\nTo: ${BOT}\n`));
    const opened = await Promise.all((await run()).map(info));
    const reply = opened.find((i) => i.inReplyTo === '<add-release@source.test>')!;
    assert.equal(reply.status, 'pending', reply.text);
    assert.equal(opened.length, 4);
    const content = unframeContent(opened.find((i) => i !== reply)!.text)!;
    assert.ok(content.split('\n').includes('Releases: openssh-9.9p2'), 'only the release not listed yet');
    assert.ok(content.split('\n').includes('Kind: add-source-release'));

    const before = await snapshot();
    const decided = await approveBy({ id: reply.fields.Ticket, digest: reply.fields['Ticket-Digest'] }, 'alice', 'carol', 'approve-add');
    assert.deepEqual(decided.filter((i) => i.to === addr('bob')).map((i) => i.status).sort(), ['applied', 'approved']);
    const entries = await logEntries();
    assert.equal(entries.length, before.log + 1);
    const e = entries.at(-1)!;
    assert.deepEqual([e.type, e.subject, e.name, e.signers, e.ticket], ['source-release-added', fpr.djm, 'openssh-9.9p2', [fpr.bob], reply.fields.Ticket]);
    const rows = readFileSync(path.join(sourceDir(), 'key-and-source.md'), 'utf8').split('\n').filter((l) => /^\s+0x/.test(l)).map((l) => l.trim().split(/\s+/)[1]);
    assert.deepEqual(rows, ['openssh-9.8p1', 'openssh-9.9p1', 'openssh-9.9p2']);
    assert.deepEqual(git(['show', '--name-only', '--format=', 'HEAD']).trim().split('\n').filter((f) => f.startsWith('pgp/')), ['pgp/for-source/key-and-source.md']);
    const found = await withStore((s) => s.findSourceVouches({ fingerprint: fpr.djm }));
    assert.deepEqual(found.map((v) => `${v.release} ${v.voucher === fpr.alice ? 'alice' : v.voucher === fpr.bob ? 'bob' : v.voucher}`),
      ['openssh-9.8p1 alice', 'openssh-9.9p1 alice', 'openssh-9.9p2 bob']);
  });

  test('refused, nothing changed: a vouch signed by a key outside the collection', async () => {
    await assertRefused(
      await g.pgpMimeMessage(fpr.sid, hdr('sid', 'stranger-vouch'), `SUBMIT SOURCE KEY curl-8.9.1\nTo: ${BOT}\n`,
        { attachments: [{ filename: 'key.asc', contentType: 'application/pgp-keys', content: await g.exportPublic(fpr.old) }] }),
      'stranger-vouch', 'sid', 'a command that changes the collection must be signed',
      [/The command SUBMIT SOURCE KEY changes the collection, so it must be signed/, new RegExp(fpr.sid.slice(-16), 'i')]);
  });

  test('refused, nothing changed: an upstream key whose only self-signature is SHA-1', async () => {
    await assertRefused(
      await g.pgpMimeMessage(fpr.alice, hdr('alice', 'sha1-vouch'), `SUBMIT SOURCE KEY oldtool-1.0\nTo: ${BOT}\n\n${await g.exportPublic(fpr.old)}`),
      'sha1-vouch', 'alice', 'weak-self-signature', [/every user ID is bound by a SHA1 self-signature, which the policy refuses/]);
  });

  test('refused, nothing changed: a bad release name', async () => {
    await assertRefused(
      await g.inlineMessage(fpr.carol, hdr('carol', 'bad-release'), `SUBMIT SOURCE KEY openssh-9.8p1 openssh/9.9p1\nTo: ${BOT}\n\n${await g.exportPublic(fpr.djm)}`),
      'bad-release', 'carol', 'release-name', [/the release "openssh\/9\.9p1" is not a release name/]);
  });

  test('refused, nothing changed: ADD SOURCE for a key not in pgp/for-source/', async () => {
    await assertRefused(
      await g.inlineMessage(fpr.alice, hdr('alice', 'add-unknown'), `ADD SOURCE ${keyId('old')} oldtool-1.0\nTo: ${BOT}\n`),
      'add-unknown', 'alice', 'not-in-source-folder', [new RegExp(`no key in pgp/for-source/ has the key id 0x${keyId('old')}`)]);
  });

  test('the digest lists both vouches (releases, ticket, approvers, the member who vouched) and verify-digest accepts it', async () => {
    const r = await runCli(['digest', '--now', '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const file = path.join(bot.dataDir, 'digests', '000001.txt');
    const signed = readFileSync(file, 'utf8');
    const text = signed.replace(/\r\n/g, '\n');
    for (const l of text.split('\n')) assert.ok(l.length <= 72 && /^[\x20-\x7e]*$/.test(l), `not 72 columns of ASCII: ${JSON.stringify(l)}`);
    const block = (label: string) => new RegExp(`#\\d+ ${label}, \\S+\\n\\s+Key: ${fpr.djm}\\n\\s+Releases: ([^\\n]+)\\n\\s+Ticket: ZT-\\d+\\n\\s+Approved-By: [0-9A-F]{40}\\n\\s+[0-9A-F]{40}\\n\\s+Vouched-By: ([0-9A-F]{40})\\n`);
    const added = block('source-signing key added').exec(text);
    assert.ok(added, text);
    assert.deepEqual([added[1], added[2]], ['openssh-9.8p1 openssh-9.9p1', fpr.alice]);
    const more = block('releases added to a source-signing key').exec(text);
    assert.ok(more, text);
    assert.deepEqual([more[1], more[2]], ['openssh-9.9p2', fpr.bob]);
    const botKey = path.join(work, 'bot.asc');
    writeFileSync(botKey, bot.botPublicKey);
    const v = await runCli(['verify-digest', file, '--bot-key', botKey, '--log-key', path.join(bot.dataDir, 'log', 'log.vkey')], bot.env);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
  });
});
