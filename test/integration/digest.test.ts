/**
 * Issue 5 on the real stack: Dovecot (LMTP in, IMAP intake), Redis, a real
 * SMTP listener, keys and mail made by GnuPG, the bot run as its CLI.
 *
 * Changes reach the log the real way: a collection imported with
 * `ztrust-bot import`, an ATTEST signed by a collection key, a REVOKE KEY
 * carrying GnuPG's revocation certificate, all by mail through the apply
 * step. Then two digests in a row: the first by `ztrust-bot digest --now`,
 * the second by the BullMQ job scheduler inside `ztrust-bot run`. Both
 * verify with `gpg --verify` (the inline list copy also after a
 * Mailman-style footer), `verify-digest` accepts the chain and refuses
 * tampered ones, and a SUBSCRIBE from a forged address never brings digests
 * to that address (its token only ever went to that address).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type CapturedMail, type SmtpHandle } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { makeBot, runCli, startCli, type BotSetup } from './bot.js';
import { assertBotMail, headerValues } from '../harness/mailcheck.js';
import { loadBotSigner } from '../../src/pgp/botkey.js';
import { parseDigest } from '../../src/digest/format.js';

const LIST = 'linux-390@lists.example.org';
const SUB = 'sub@example.org';
const VICTIM = 'victim@example.org';
const MALLORY = 'mallory@evil.example';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;
let alice: string;
let bob: string;
let work: string;

before(async () => {
  [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url,
    config: {
      lists: [{ listId: 'linux-390.lists.example.org', address: LIST, postDigests: true, signing: 'inline' }],
      // Every two seconds, so the scheduler's digest arrives while the test waits.
      digest: { schedule: '*/2 * * * * *' },
    },
  });
  work = path.join(bot.dir, 'work');
  mkdirSync(work);
  await gpg.importKeys(bot.botPublicKey);
  alice = await gpg.genKey('Alice Attester <alice@example.org>', { algo: 'ed25519' });
  bob = await gpg.genKey('Bob Builder <bob@example.org>', { algo: 'ed25519' });
  await gpg.signKey(alice, bob);
  await gpg.signKey(bob, alice);
  const seed = path.join(bot.dir, 'seed');
  mkdirSync(path.join(seed, 'pgp'), { recursive: true });
  writeFileSync(path.join(seed, 'pgp', 'alice.asc'), await gpg.exportPublic(alice));
  writeFileSync(path.join(seed, 'pgp', 'bob.asc'), await gpg.exportPublic(bob));
  const imp = await runCli(['import', seed, '--config', bot.configPath], bot.env);
  assert.ok(imp.code === 0 || imp.code === 1, `import failed: ${imp.stderr}`);
});

after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

let seq = 0;
const hdr = (from: string, extra?: Record<string, string>) =>
  ({ from, to: 'ztrust-bot@example.org', subject: 'ztrust', messageId: `<digest-it-${++seq}@example.org>`, extra });

async function runOnce(): Promise<void> {
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
}

const to = (m: CapturedMail) => m.recipients.map((a) => a.toLowerCase());
const isDigest = (m: CapturedMail) => /^X-Ztrust-Digest: /im.test(m.raw.toString('latin1').split(/\r?\n\r?\n/)[0]);
async function textOf(m: CapturedMail): Promise<string> {
  return (await simpleParser(m.raw)).text ?? '';
}
function tokenIn(text: string): string {
  const t = /^ {2}CONFIRM ([0-9a-f]{32})$/m.exec(text)?.[1];
  assert.ok(t, `no CONFIRM line in:\n${text}`);
  return t;
}
const footer = (raw: Buffer) => Buffer.concat([raw, Buffer.from(
  '_______________________________________________\r\nLINUX-390 mailing list -- linux-390@lists.example.org\r\n'
  + 'To unsubscribe send an email to linux-390-leave@lists.example.org\r\n')]);

describe('signed digests and subscriptions, end to end', () => {
  let d1: { list: CapturedMail; sub: CapturedMail };
  let d2: { list: CapturedMail; sub: CapturedMail };
  let victimToken = '';

  test('subscriptions: double opt-in; a forged SUBSCRIBE only mails the forged address', async () => {
    await dovecot.deliver(gpg.plainMessage(hdr(`Sub Scriber <${SUB}>`), 'SUBSCRIBE\n'));
    await dovecot.deliver(gpg.plainMessage(hdr(`Victim <${VICTIM}>`, { 'Reply-To': MALLORY }), 'SUBSCRIBE\n'));
    const sha = createHash('sha256').update('zowe-cli 7.0').digest('hex');
    await dovecot.deliver(await gpg.pgpMimeMessage(alice, hdr('Alice Attester <alice@example.org>'), `ATTEST\nTo: ztrust-bot@example.org\n${sha}  zowe-cli-7.0.tgz\n`));
    const before = smtp.messages.length;
    await runOnce();
    const mails = smtp.messages.slice(before);
    const toSub = mails.filter((m) => to(m).includes(SUB));
    const toVictim = mails.filter((m) => to(m).includes(VICTIM));
    assert.equal(toSub.length, 1);
    assert.equal(toVictim.length, 1);
    assert.deepEqual(to(toVictim[0]), [VICTIM], 'the token goes to the From address alone, never to Reply-To');
    assert.equal(mails.filter((m) => to(m).includes(MALLORY)).length, 0);
    victimToken = tokenIn(await textOf(toVictim[0]));
    const subToken = tokenIn(await textOf(toSub[0]));
    for (const m of mails) {
      const v = await gpg.verifyMail(m.raw);
      assert.equal(v.ok, true, `gpg --verify: ${v.status}`);
    }
    // The ATTEST was logged (accepted, then applied with a log index).
    assert.ok(mails.some((m) => to(m).includes('alice@example.org')));

    // Mallory never saw the victim's token: she can only guess, from anywhere.
    await dovecot.deliver(gpg.plainMessage(hdr(MALLORY), `CONFIRM ${'0123456789abcdef'.repeat(2)}\n`));
    await dovecot.deliver(gpg.plainMessage(hdr(`Victim <${VICTIM}>`), `CONFIRM ${'fedcba9876543210'.repeat(2)}\n`));
    await dovecot.deliver(gpg.plainMessage(hdr(SUB), `CONFIRM ${subToken}\n\n> quoted text of the bot's mail\n`));
    const b2 = smtp.messages.length;
    await runOnce();
    const replies = smtp.messages.slice(b2);
    const subReply = replies.find((m) => to(m).includes(SUB))!;
    assert.match(await textOf(subReply), /^Status: applied[\s\S]*now receives the signed digests/);
    const malloryReply = replies.find((m) => to(m).includes(MALLORY))!;
    assert.match(await textOf(malloryReply), /^Status: error[\s\S]*not known/);
    // The token appears in no mail but the one to the victim.
    assert.equal(smtp.messages.filter((m) => m.raw.toString('latin1').includes(victimToken)).length, 1);
  });

  test('digest 1 by `digest --now`: to the list (inline) and the subscriber (PGP/MIME), never to the forged address', async () => {
    const before = smtp.messages.length;
    const r = await runCli(['digest', '--now', '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, r.stderr);
    // The two seed keys (`ztrust-bot import` is logged) and Alice's attestation.
    assert.match(r.stdout, /digest 1: 2 change\(s\), 0 revocation\(s\), 1 attestation\(s\); 2 recipient\(s\)/);
    assert.match(r.stdout, /mail: 2 sent/);
    const mails = smtp.messages.slice(before);
    assert.equal(mails.length, 2);
    d1 = { list: mails.find((m) => to(m).includes(LIST))!, sub: mails.find((m) => to(m).includes(SUB))! };
    assert.ok(d1.list && d1.sub);
    for (const [m, kind] of [[d1.list, 'inline'], [d1.sub, 'pgpmime']] as const) {
      const v = await gpg.verifyMail(m.raw);
      assert.equal(v.ok, true, `gpg --verify: ${v.status}`);
      assert.equal(v.kind, kind);
      assert.equal(v.signer, bot.botFingerprint);
      const head = m.raw.toString('latin1').split(/\r\n\r\n/)[0];
      assert.match(head, /^List-Unsubscribe:\s+<mailto:ztrust-bot@example\.org\?subject=UNSUBSCRIBE&body=UNSUBSCRIBE>/m);
      assert.match(head, /^Auto-Submitted: auto-generated/m);
      const text = await textOf(m);
      assert.match(text, /Digest: 1\r?\n/);
      assert.match(text, /send a mail to\s+ztrust-bot@example\.org\s+whose\s+text\s+is\s+the\s+line\s+UNSUBSCRIBE/);
    }
    // The list copy after a Mailman-style footer: still good for gpg.
    const v = await gpg.verifyMail(footer(d1.list.raw));
    assert.equal(v.ok, true, `gpg --verify after a footer: ${v.status}`);
    const again = await runCli(['digest', '--now', '--config', bot.configPath], bot.env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no digest: nothing changed since digest 1/);
    assert.equal(smtp.messages.length, before + 2);
  });

  test('digest 2 by the job scheduler in `run`, after a revocation and an attestation by mail; the revocation stands out', async () => {
    const rev = readFileSync(path.join(gpg.home, 'openpgp-revocs.d', `${bob}.rev`), 'utf8');
    await dovecot.deliver(gpg.plainMessage(hdr('Bob Builder <bob@example.org>'), `REVOKE KEY\n\n${rev.slice(rev.indexOf(':-----BEGIN'))}`));
    const sha = createHash('sha256').update('zowe-cli 7.1').digest('hex');
    await dovecot.deliver(await gpg.pgpMimeMessage(alice, hdr('Alice Attester <alice@example.org>'), `ATTEST\nTo: ztrust-bot@example.org\n${sha}  zowe-cli-7.1.tgz\n`));
    await runOnce();
    const before = smtp.messages.length;
    const { child, done } = startCli(['run', '--config', bot.configPath], bot.env);
    try {
      await smtp.waitFor(before + 2, 30_000);
      await new Promise((res) => setTimeout(res, 2500)); // a further tick must not send anything more
    } finally {
      child.kill('SIGTERM');
    }
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const mails = smtp.messages.slice(before).filter(isDigest);
    assert.equal(mails.length, 2, 'one digest, one mail per recipient, however many ticks');
    d2 = { list: mails.find((m) => to(m).includes(LIST))!, sub: mails.find((m) => to(m).includes(SUB))! };
    for (const m of [d2.list, d2.sub, footer(d2.list.raw)]) {
      const v = await gpg.verifyMail(Buffer.isBuffer(m) ? m : m.raw);
      assert.equal(v.ok, true, `gpg --verify: ${v.status}`);
    }
    const text = await textOf(d2.sub);
    assert.match(text, /^Digest: 2\r?$/m);
    assert.match(text, /\*\*\* REVOKED KEYS: 1 \*\*\*/);
    assert.match(text, new RegExp(`KEY REVOKED \\*\\*\\*, [0-9TZ:-]+\\s+Key: ${bob}`));
    assert.match(text, /zowe-cli-7\.1\.tgz/);
    assert.match((await simpleParser(d2.sub.raw)).subject ?? '', /^ztrust digest 2: 1 change, 1 REVOKED key, 1 attestation$/);

    // No digest ever went to the forged address: only its token, and the
    // answer to the CONFIRM forged in its name.
    assert.equal(smtp.messages.filter((m) => to(m).includes(VICTIM) && isDigest(m)).length, 0);
    assert.equal(smtp.messages.filter((m) => to(m).includes(VICTIM)).length, 2);
    // Stored in the data directory and committed to the collection.
    for (const n of ['000001.txt', '000002.txt']) {
      assert.ok(existsSync(path.join(bot.dataDir, 'digests', n)));
      assert.equal(readFileSync(path.join(bot.dataDir, 'collection', 'digests', n), 'utf8'), readFileSync(path.join(bot.dataDir, 'digests', n), 'utf8'));
    }
    const gitLog = execFileSync('git', ['-C', path.join(bot.dataDir, 'collection'), 'log', '--format=%s'], { encoding: 'utf8' });
    assert.match(gitLog, /^Digest 2\n[\s\S]*Digest 1\n/);
  });

  test('verify-digest accepts the chain from any copy and refuses tampered digests', async () => {
    const f = (name: string, data: Buffer | string) => {
      const p = path.join(work, name);
      writeFileSync(p, data);
      return p;
    };
    const d1sub = f('d1-sub.eml', d1.sub.raw);
    const d1list = f('d1-list.eml', footer(d1.list.raw));
    const d2sub = f('d2-sub.eml', d2.sub.raw);
    const d2list = f('d2-list.eml', footer(d2.list.raw));
    const stored2 = path.join(bot.dataDir, 'digests', '000002.txt');
    const botKey = f('bot.asc', bot.botPublicKey);
    const logKey = readFileSync(path.join(bot.dataDir, 'log', 'log.vkey'), 'utf8').trim();
    const { ZTRUST_CONFIG: _unused, ...envNoConfig } = bot.env;
    void _unused;

    const ok1 = await runCli(['verify-digest', d2sub, '--previous', d1sub, '--config', bot.configPath], bot.env);
    assert.equal(ok1.code, 0, ok1.stderr);
    assert.match(ok1.stdout, /chain: digest 1 -> 2/);
    assert.match(ok1.stdout, /digest 2 verified/);
    const ok2 = await runCli(['verify-digest', d2list, '--previous', d1list, '--bot-key', botKey, '--log-key', logKey], envNoConfig);
    assert.equal(ok2.code, 0, ok2.stderr);
    const ok3 = await runCli(['verify-digest', stored2, '--previous', d1list, '--bot-key', botKey, '--log-key', path.join(bot.dataDir, 'log', 'log.vkey')], envNoConfig);
    assert.equal(ok3.code, 0, ok3.stderr);
    const ok4 = await runCli(['verify-digest', d1sub, '--json', '--config', bot.configPath], bot.env);
    assert.equal(ok4.code, 0, ok4.stderr);
    assert.equal((JSON.parse(ok4.stdout) as { digest: number }).digest, 1);

    // Tampered after signing: the signature breaks.
    const edited = f('edited.eml', Buffer.from(d2.list.raw.toString('latin1').replace('Tree-Size: ', 'Tree-Size: 1'), 'latin1'));
    const e1 = await runCli(['verify-digest', edited, '--previous', d1sub, '--config', bot.configPath], bot.env);
    assert.equal(e1.code, 1);
    assert.match(e1.stderr, /signature: bad/);

    // Tampered and re-signed with the bot's own key (a compromised or buggy
    // bot): the chain and the proof still give it away.
    const signer = await loadBotSigner(path.join(bot.dataDir, 'keys', 'bot.key'), readFileSync(path.join(bot.dataDir, 'keys', 'passphrase'), 'utf8').trim());
    const d2text = parseDigest((await simpleParser(d2.sub.raw)).text ?? '').text;
    const badHash = f('bad-hash.txt', await signer.signCleartext(d2text.replace(/(Previous-SHA256:\n {2})(.)/, (_m, p: string, c: string) => `${p}${c === '0' ? '1' : '0'}`)));
    const e2 = await runCli(['verify-digest', badHash, '--previous', d1sub, '--config', bot.configPath], bot.env);
    assert.equal(e2.code, 1);
    assert.match(e2.stderr, /hash chain broken/);

    const proof = parseDigest(d2text).consistency.split('\n');
    const at = proof.findIndex((l, i) => i > 1 && /^[A-Za-z0-9+/]{43}=$/.test(l));
    assert.ok(at > 1, 'the proof has a hash to tamper with');
    proof[at] = Buffer.alloc(32, 1).toString('base64');
    const b64 = Buffer.from(proof.join('\n')).toString('base64').match(/.{1,64}/g)!.map((l) => `  ${l}`).join('\n');
    const badProof = f('bad-proof.txt', await signer.signCleartext(d2text.replace(/(BEGIN LOG PROOF\n)[\s\S]*?(\n {2}END LOG PROOF)/, (_m, a: string, z: string) => `${a}${b64}${z}`)));
    const e3 = await runCli(['verify-digest', badProof, '--previous', d1sub, '--config', bot.configPath], bot.env);
    assert.equal(e3.code, 1);
    assert.match(e3.stderr, /log consistency proof: .*not an extension/);

    const u1 = await runCli(['verify-digest', d2sub], envNoConfig);
    assert.equal(u1.code, 2, u1.stderr);
    assert.match(u1.stderr, /no bot key/);
    const u2 = await runCli(['verify-digest', path.join(work, 'missing.eml'), '--config', bot.configPath], bot.env);
    assert.equal(u2.code, 2);
  });

  test('a digest.schedule that is not a cron pattern stops `run` with a configuration error naming the key', async () => {
    const md = path.join(bot.dir, 'bad-schedule-maildir');
    mkdirSync(path.join(md, 'new'), { recursive: true });
    const b = await makeBot({ mailboxUrl: `maildir:${md}`, outboxUrl: `dir:${path.join(bot.dir, 'bad-schedule-out')}`, redisUrl: redis.url,
      config: { digest: { schedule: 'every monday at eight' }, queue: { redisUrl: redis.url, prefix: 'bad-schedule' } } });
    const r = await runCli(['run', '--config', b.configPath], b.env, 60_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /digest\.schedule "every monday at eight" is not a cron pattern/);
  });
});

// Issue 8, "What must be true" 3: the bot's mail read by Python's email
// package and gpg, long and non-ASCII Subjects included.
describe('every mail at the SMTP listener, read by another reader', () => {
  test('a SUBSCRIBE with a long non-ASCII Subject and name: the confirmation reads as meant', async () => {
    const before = smtp.messages.length;
    const subject = `Abonnement für Jürgen Groß: ${'den signierten Digest bitte '.repeat(5)}🔑`;
    await dovecot.deliver(gpg.plainMessage({ ...hdr('Jürgen Groß <juergen@example.org>'), subject }, 'SUBSCRIBE\n'));
    await runOnce();
    const mine = smtp.messages.slice(before).filter((m) => to(m).includes('juergen@example.org'));
    assert.equal(mine.length, 1);
    const r = await assertBotMail(mine[0].raw, bot.botPublicKey, { status: 'pending' });
    assert.deepEqual(headerValues(r, 'Subject'), [`Re: ${subject.replace(/\s+/g, ' ')}`]);
  });

  test('every mail the SMTP listener received in this file (replies, confirmations, digests) reads cleanly in Python and verifies with gpg', async () => {
    assert.ok(smtp.messages.filter(isDigest).length >= 4, 'the digests are among them');
    for (const m of smtp.messages) await assertBotMail(m.raw, bot.botPublicKey);
  });
});
