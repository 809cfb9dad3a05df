/**
 * Issue 3, point 7, on the real stack: Dovecot (LMTP delivery, IMAP
 * intake), a harness Redis, the harness SMTP listener, the bot run as its
 * CLI (`ztrust-bot import`, `ztrust-bot run --once`), and every key,
 * certification, signed mail and revocation made by GnuPG.
 *
 *   - three community keys cross-sign (gpg --quick-sign-key) and are imported
 *     as the seed with `ztrust-bot import`;
 *   - two newcomers, each certified by two of them and by a stranger, submit
 *     their keys (PGP/MIME with the key attached; inline with the key in the
 *     text);
 *   - two maintainers approve each ticket by signed reply, built from the
 *     digest in the notification they received at the SMTP listener;
 *   - the keys land in the collection with exactly the in-collection
 *     certifications (gpg --list-sigs on the stored files), the stranger's
 *     stripped; a replayed APPROVE and one with a wrong digest are refused;
 *   - a `gpg --gen-revoke` certificate, mailed unsigned, revokes a key;
 *   - an `openssl req -x509` root signed with `gpg --detach-sign --armor` is
 *     admitted, and the same certificate with a corrupted signature refused.
 * Every mail the bot sends passes `gpg --verify`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type CapturedMail, type SmtpHandle } from '../harness/smtp.js';
import { mailFields, makeBot, runCli, type BotSetup } from './bot.js';
import { assertBotMail } from '../harness/mailcheck.js';
import * as openpgp from 'openpgp';
import { openApp } from '../../src/app/app.js';
import { collectionOf } from '../../src/changes/apply.js';
import { initDataDir } from '../../src/app/init.js';
import { silentLogger } from '../../src/logger.js';
import { inspectKey } from '../../src/pgp/inspect.js';
import { ApplyProducer, applyJobId } from '../../queue/apply.js';
import { bullConnection, connectRedis } from '../../queue/redis.js';
import { runOnce } from '../../queue/runner.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let g: GpgHome;
let bot: BotSetup;
const work = mkdtempSync(path.join(tmpdir(), 'zt-interop-'));
const fpr: Record<string, string> = {};
const verified = new Set<number>();

const BOT = 'ztrust-bot@example.org';
const UIDS = {
  alice: 'Alice Admin <alice@community.test>',
  bob: 'Bob Builder <bob@community.test>',
  carol: 'Carol Chair <carol@community.test>',
  dave: 'Dave Newcomer <dave@newcomers.test>',
  erin: 'Erin Newcomer <erin@newcomers.test>',
  sid: 'Sid Stranger <sid@elsewhere.test>',
} as const;
type Who = keyof typeof UIDS;
const addr = (w: Who) => /<(.+)>/.exec(UIDS[w])![1];
const keyId = (w: Who) => fpr[w].slice(-16);
const hdr = (w: string, id: string, subject = 'request') =>
  ({ from: w in UIDS ? UIDS[w as Who] : w, to: BOT, subject, messageId: `<${id}@interop.test>` });

/** gpg with the community home but without --batch (gen-revoke refuses --batch; it is driven through --command-fd). */
function gpgInteractive(args: string[], input: string): Buffer {
  const r = spawnSync('gpg', ['--homedir', g.home, '--no-tty', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
    { input, env: { ...process.env, GNUPGHOME: g.home, LC_ALL: 'C' } });
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** A fresh keyring that holds only `files`: what gpg says about the stored key files themselves. */
function listSigs(files: string[]): string {
  const home = mkdtempSync(path.join(work, 'chk-'));
  const run = (args: string[]) => spawnSync('gpg', ['--homedir', home, '--batch', ...args], { encoding: 'utf8' });
  for (const f of files) run(['--import', f]);
  const out = run(['--with-colons', '--list-sigs']).stdout;
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
  return out;
}
/** Issuer key ids of the certifications (sig class 10-13x) on each UID, from gpg --with-colons. */
function certIssuers(colons: string, who: Who): string[] {
  const lines = colons.split('\n');
  const start = lines.findIndex((l) => l.startsWith('pub:') && l.split(':')[4] === keyId(who));
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith('pub:')) break;
    const f = l.split(':');
    if (f[0] === 'sig' && /^1[0-3]x$/.test(f[10])) out.push(f[4]);
  }
  return out;
}

async function run(): Promise<CapturedMail[]> {
  const before = smtp.messages.length;
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
  const mails = smtp.messages.slice(before);
  // Every mail the bot sends verifies with GnuPG, as a user would check it.
  for (const m of mails) {
    const v = await g.verifyMail(m.raw);
    assert.equal(v.ok, true, `gpg --verify failed on a bot mail to ${m.recipients.join(',')}: ${v.status}`);
    assert.equal(v.signer, bot.botFingerprint);
    verified.add(smtp.messages.indexOf(m));
  }
  return mails;
}

const info = mailFields;
const flat = (s: string) => s.replace(/\s+/g, ' ');

before(async () => {
  [dovecot, redis, smtp, g] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  for (const w of Object.keys(UIDS) as Who[]) fpr[w] = await g.genKey(UIDS[w]);
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url, address: BOT,
    config: { maintainers: [fpr.alice, fpr.bob, fpr.carol], threshold: 2, queue: { redisUrl: redis.url, prefix: 'interop' } },
  });
  await g.importKeys(bot.botPublicKey);
});

after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), g?.cleanup()]);
});

describe('key submissions, maintainer approval and the collection, end to end', () => {
  const tickets: Record<'dave' | 'erin', { id: string; digest: string }> = {} as never;
  let aliceApproveDave: Buffer = Buffer.alloc(0);

  test('three community keys cross-sign and are imported as the seed', async () => {
    const community: Who[] = ['alice', 'bob', 'carol'];
    for (const a of community) for (const b of community) if (a !== b) await g.signKey(fpr[a], fpr[b]);
    const seed = path.join(work, 'seed', 'ztrust');
    mkdirSync(path.join(seed, 'pgp', 'all'), { recursive: true });
    for (const w of community) {
      writeFileSync(path.join(seed, 'pgp', 'all', `0x${keyId(w).toLowerCase()}-${addr(w)}-public.asc`), await g.exportPublic(fpr[w]));
    }
    const r = await runCli(['import', path.dirname(seed), '--config', bot.configPath], bot.env);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /imported 3 key\(s\) and 0 certificate\(s\)/);
    const col = path.join(bot.dataDir, 'collection');
    assert.equal(readdirSync(path.join(col, 'pgp', 'all')).length, 3);
    const colons = listSigs(readdirSync(path.join(col, 'pgp', 'all')).map((n) => path.join(col, 'pgp', 'all', n)));
    assert.deepEqual(certIssuers(colons, 'alice').sort(), [keyId('alice'), keyId('bob'), keyId('carol')].sort());
  });

  test('two newcomers, certified by two members and a stranger, submit their keys (PGP/MIME attached, inline in the text)', async () => {
    for (const [who, by] of [['dave', ['alice', 'bob', 'sid']], ['erin', ['bob', 'carol', 'sid']]] as [Who, Who[]][]) {
      for (const b of by) await g.signKey(fpr[b], fpr[who]);
    }
    const daveKey = await g.exportPublic(fpr.dave);
    const erinKey = await g.exportPublic(fpr.erin);
    await dovecot.deliver(await g.pgpMimeMessage(fpr.dave, hdr('dave', 'dave-submit', 'my key'), `SUBMIT KEY\nTo: ${BOT}\n\nHello, the key is attached.\n`,
      { attachments: [{ filename: 'dave.asc', contentType: 'application/pgp-keys', content: daveKey }] }));
    await dovecot.deliver(await g.inlineMessage(fpr.erin, hdr('erin', 'erin-submit', 'my key'), `SUBMIT KEY\nTo: ${BOT}\n\n${erinKey}`));
    const mails = await run();
    const infos = await Promise.all(mails.map(info));
    assert.equal(infos.length, 8, infos.map((i) => `${i.to} ${i.status}`).join('; '));
    for (const who of ['dave', 'erin'] as const) {
      const reply = infos.find((i) => i.to === addr(who))!;
      assert.equal(reply.status, 'pending', reply.text);
      assert.equal(reply.inReplyTo, `<${who}-submit@interop.test>`);
      assert.match(reply.fields.Ticket, /^ZT-\d{6}$/);
      assert.ok(reply.text.includes(keyId('sid').toLowerCase()), 'the stranger certification is listed as stripped');
      tickets[who] = { id: reply.fields.Ticket, digest: reply.fields['Ticket-Digest'] };
    }
    // Each maintainer got one notice per ticket, to the address on their key; the digest is the SHA-256 of the framed content.
    for (const m of ['alice', 'bob', 'carol'] as const) {
      const notices = infos.filter((i) => i.to === addr(m));
      assert.equal(notices.length, 2);
      for (const n of notices) {
        const content = /-----BEGIN ZTRUST TICKET-----\n([\s\S]*?\n)-----END ZTRUST TICKET-----/.exec(n.text)![1];
        assert.equal(createHash('sha256').update(content).digest('hex'), n.fields['Ticket-Digest']);
        assert.ok(n.text.includes(`  APPROVE ${n.fields.Ticket}\n  ${n.fields['Ticket-Digest']}\n  To: ${BOT}\n`));
      }
    }
  });

  test('an APPROVE with a wrong digest is refused', async () => {
    const wrong = createHash('sha256').update('other content').digest('hex');
    await dovecot.deliver(await g.pgpMimeMessage(fpr.carol, hdr('carol', 'carol-wrong-digest'), `APPROVE ${tickets.dave.id} ${wrong}\nTo: ${BOT}\n`));
    const [r, ...rest] = await Promise.all((await run()).map(info));
    assert.equal(rest.length, 0);
    assert.equal(r.inReplyTo, '<carol-wrong-digest@interop.test>');
    assert.equal(r.status, 'error');
    assert.match(flat(r.text), /Rule: wrong-digest/);
    assert.ok(!r.text.includes(tickets.dave.digest), 'the refusal does not hand out the right digest');
  });

  test('two maintainers approve each ticket by signed reply; the keys are applied', async () => {
    // Alice reads her notice for Dave's ticket at the SMTP listener and answers with what it shows.
    const notice = (await Promise.all(smtp.messages.map(info))).find((i) => i.to === addr('alice') && i.fields.Ticket === tickets.dave.id)!;
    const digest = notice.fields['Ticket-Digest'];
    aliceApproveDave = await g.pgpMimeMessage(fpr.alice, hdr('alice', 'alice-approve-dave', `Re: ${notice.subject}`), `APPROVE ${tickets.dave.id}\n${digest}\nTo: ${BOT}\n`);
    await dovecot.deliver(aliceApproveDave);
    await dovecot.deliver(await g.inlineMessage(fpr.bob, hdr('bob', 'bob-approve-dave'), `APPROVE ${tickets.dave.id} ${tickets.dave.digest}\nTo: ${BOT}\n`));
    await dovecot.deliver(await g.inlineMessage(fpr.bob, hdr('bob', 'bob-approve-erin'), `APPROVE ${tickets.erin.id}\n${tickets.erin.digest}\nTo: ${BOT}\n`));
    await dovecot.deliver(await g.pgpMimeMessage(fpr.carol, hdr('carol', 'carol-approve-erin'), `APPROVE ${tickets.erin.id} ${tickets.erin.digest}\nTo: ${BOT}\n`));
    const infos = await Promise.all((await run()).map(info));

    const replyTo = (id: string) => infos.find((i) => i.inReplyTo === `<${id}@interop.test>`)!;
    for (const [a, b] of [['alice-approve-dave', 'bob-approve-dave'], ['bob-approve-erin', 'carol-approve-erin']]) {
      assert.deepEqual([replyTo(a).status, replyTo(b).status].sort(), ['approved', 'pending'], 'one vote recorded, then the threshold');
    }
    for (const who of ['dave', 'erin'] as const) {
      const toSubmitter = infos.filter((i) => i.to === addr(who)).map((i) => i.status).sort();
      assert.deepEqual(toSubmitter, ['applied', 'approved'], `${who} is told of each state change`);
    }

    const col = path.join(bot.dataDir, 'collection');
    const all = readdirSync(path.join(col, 'pgp', 'all'));
    for (const [who, members] of [['dave', ['alice', 'bob']], ['erin', ['bob', 'carol']]] as [Who, Who[]][]) {
      const file = all.find((n) => n.startsWith(`0x${keyId(who).toLowerCase()}-`))!;
      assert.equal(file, `0x${keyId(who).toLowerCase()}-${addr(who)}-public.asc`);
      // gpg on the stored file alone: the in-collection certifications (and the self-signature), never the stranger's.
      const colons = listSigs([path.join(col, 'pgp', 'all', file)]);
      const issuers = certIssuers(colons, who);
      assert.deepEqual(issuers.filter((i) => i !== keyId(who)).sort(), members.map(keyId).sort());
      assert.ok(!issuers.includes(keyId('sid')), 'the stranger certification is stripped');
    }
    const git = (args: string[]) => spawnSync('git', ['-C', col, ...args], { encoding: 'utf8' }).stdout;
    const log = git(['log', '--format=%B%x00']);
    for (const who of ['dave', 'erin'] as const) assert.match(log, new RegExp(`Ztrust-Ticket: ${tickets[who].id}\n`));
    assert.equal(log.match(/^Ztrust-Approved-By: /gm)!.length, 4);
    // Each applied change is in the transparency log; its index is in the commit and in the notice.
    const indexes = [...log.matchAll(/^Ztrust-Log-Index: (\d+)$/gm)].map((m) => m[1]);
    assert.equal(indexes.length, 2);
    const applied = infos.filter((i) => i.status === 'applied');
    assert.deepEqual(applied.map((i) => i.fields['Log-Index']).sort(), [...indexes].sort());
    // The manifest is signed by the bot, and gpg agrees.
    writeFileSync(path.join(work, 'sums'), readFileSync(path.join(col, 'SHA256SUMS')));
    const v = spawnSync('gpg', ['--homedir', g.home, '--batch', '--verify', path.join(col, 'SHA256SUMS.asc'), path.join(col, 'SHA256SUMS')]);
    assert.equal(v.status, 0, v.stderr.toString());
  });

  test('a replayed APPROVE is refused', async () => {
    // The same signed mail, re-sent with a new Message-ID (outside the signature).
    const replay = Buffer.from(aliceApproveDave.toString('latin1').replace('<alice-approve-dave@interop.test>', '<alice-replay@interop.test>'), 'latin1');
    await dovecot.deliver(replay);
    const [r] = await Promise.all((await run()).map(info));
    assert.equal(r.inReplyTo, '<alice-replay@interop.test>');
    assert.equal(r.status, 'error');
    assert.match(flat(r.text), /already used for an earlier request \(replay\)/);
  });

  test('a gpg --gen-revoke certificate, mailed unsigned, revokes the key', async () => {
    const cert = gpgInteractive(['--command-fd', '0', '--output', '-', '--gen-revoke', fpr.erin], 'y\n1\nkey retired\n\ny\n').toString();
    assert.match(cert, /-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: This is a revocation certificate/);
    await dovecot.deliver(g.plainMessage(hdr('erin', 'erin-revoke', 'revocation'), `REVOKE KEY\n\n${cert}`));
    const infos = await Promise.all((await run()).map(info));
    assert.deepEqual(infos.map((i) => [i.to, i.status]).sort(), [[addr('erin'), 'accepted'], [addr('erin'), 'applied']]);
    const col = path.join(bot.dataDir, 'collection');
    const file = readdirSync(path.join(col, 'pgp', 'all')).find((n) => n.startsWith(`0x${keyId('erin').toLowerCase()}-`))!;
    const colons = listSigs([path.join(col, 'pgp', 'all', file)]);
    assert.match(colons, /^pub:r:/m, 'gpg sees the stored key as revoked');
    assert.match(colons, /^rev:/m);
  });

  test('an openssl root signed with gpg --detach-sign --armor is admitted; a corrupted signature is refused', async () => {
    const ossl = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: work });
      assert.equal(r.status, 0, r.stderr.toString());
    };
    ossl(['req', '-x509', '-newkey', 'rsa:3072', '-nodes', '-keyout', 'root.key', '-out', 'root.crt', '-days', '365', '-sha256',
      '-subj', '/CN=Volunteer Root CA/O=ztrust interop', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const pem = readFileSync(path.join(work, 'root.crt'));
    const sig = await g.detachSign(fpr.alice, pem, { armor: true });
    // Corrupt one byte of the signature value inside the armour (base64 stays valid).
    const lines = sig.toString().split('\n');
    const i = lines.findIndex((l) => /^[A-Za-z0-9+/]{40,}$/.test(l)) + 1;
    const bytes = Buffer.from(lines[i], 'base64');
    bytes[bytes.length - 2] ^= 0x01;
    lines[i] = bytes.toString('base64');
    const corrupted = lines.filter((l) => !/^=[A-Za-z0-9+/]{4}$/.test(l)).join('\n'); // drop the CRC24 line, which would now fail first
    const att = (s: string | Buffer) => [
      { filename: 'root.crt', contentType: 'application/x-x509-ca-cert', content: pem },
      { filename: 'root.crt.asc', contentType: 'application/pgp-signature', content: s },
    ];
    await dovecot.deliver(await g.pgpMimeMessage(fpr.alice, hdr('alice', 'cert-good'), `SUBMIT CERT volunteer-root\nTo: ${BOT}\n`, { attachments: att(sig) }));
    await dovecot.deliver(await g.pgpMimeMessage(fpr.bob, hdr('bob', 'cert-bad'), `SUBMIT CERT corrupted-root\nTo: ${BOT}\n`, { attachments: att(corrupted) }));
    const infos = await Promise.all((await run()).map(info));
    const good = infos.find((i) => i.inReplyTo === '<cert-good@interop.test>')!;
    const bad = infos.find((i) => i.inReplyTo === '<cert-bad@interop.test>')!;
    assert.equal(bad.status, 'error');
    assert.match(flat(bad.text), /Rule: certificate-signature/);
    assert.match(flat(bad.text), /does not verify over these exact bytes/);
    assert.equal(good.status, 'pending', good.text);
    assert.equal(infos.length, 5, 'the two replies and three maintainer notices');
    const t = { id: good.fields.Ticket, digest: good.fields['Ticket-Digest'] };

    await dovecot.deliver(await g.inlineMessage(fpr.bob, hdr('bob', 'cert-approve-bob'), `APPROVE ${t.id}\n${t.digest}\nTo: ${BOT}\n`));
    await dovecot.deliver(await g.pgpMimeMessage(fpr.carol, hdr('carol', 'cert-approve-carol'), `APPROVE ${t.id}\n${t.digest}\nTo: ${BOT}\n`));
    const after = await Promise.all((await run()).map(info));
    assert.deepEqual(after.filter((i) => i.to === addr('alice')).map((i) => i.status).sort(), ['applied', 'approved']);
    const col = path.join(bot.dataDir, 'collection');
    assert.ok(readFileSync(path.join(col, 'pki', 'all', 'volunteer-root.crt')).equals(pem), 'stored byte-exact');
    assert.equal(readFileSync(path.join(col, 'pki', 'all', 'volunteer-root.crt.asc'), 'utf8'), sig.toString());
    const v = spawnSync('gpg', ['--homedir', g.home, '--batch', '--verify', path.join(col, 'pki', 'all', 'volunteer-root.crt.asc'), path.join(col, 'pki', 'all', 'volunteer-root.crt')]);
    assert.equal(v.status, 0, 'gpg verifies the stored signature over the stored bytes');
    assert.deepEqual(readdirSync(path.join(col, 'pki', 'all')).sort(), ['volunteer-root.crt', 'volunteer-root.crt.asc']);
  });

  test('the operator view: tickets and audit', async () => {
    const list = await runCli(['tickets', '--config', bot.configPath], bot.env);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.match(/ applied /g)?.length, 3, list.stdout);
    const audit = await runCli(['audit', '--json', '--config', bot.configPath], bot.env);
    const j = JSON.parse(audit.stdout) as { findings: { code: string; subject: string; severity: string }[] };
    // The only thing today's policy objects to is the revoked key, which is kept and reported.
    assert.deepEqual(j.findings.filter((f) => f.severity !== 'info').map((f) => `${f.code} ${f.subject}`), [`KEY_REVOKED ${keyId('erin').toLowerCase()}`]);
    assert.equal(audit.code, 1);
    assert.equal(verified.size, smtp.messages.length, 'every bot mail was checked with gpg --verify');
  });
});

describe('the apply queue: single writer, idempotent, crash-safe', () => {
  test('changes left queued by a crash are applied at the next start, once; a commit made before a crash is not made again', async () => {
    const dataDir = path.join(work, 'apply-q');
    const init = await initDataDir({
      dataDir, address: 'bot@apply.test', name: 'ztrust-bot', origin: 'apply.test/log',
      mailboxUrl: `maildir:${path.join(dataDir, 'inbox')}`, outboxUrl: `dir:${path.join(dataDir, 'outbox')}`,
      extra: { queue: { redisUrl: redis.url, prefix: 'apply-q' } },
    });
    mkdirSync(path.join(dataDir, 'inbox', 'new'), { recursive: true });
    const mk = async (name: string) => (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email: `${name}@apply.test` }], format: 'object', config: { v6Keys: false } })).privateKey;
    const [k1, k2] = await Promise.all([mk('one'), mk('two')]);
    const col = await collectionOf(init.config);
    await col.apply(async (c) => {
      await c.putKey(k1.toPublic(), 'public');
      await c.putKey(k2.toPublic(), 'public');
    }, { message: 'seed', signer: null });
    const app = await openApp(init.config, silentLogger);
    try {
      // Two revocations recorded by the inbound step, whose enqueue a crash lost.
      const change = (id: string, k: openpgp.PrivateKey, rev: string) => ({
        kind: 'change-create' as const,
        change: { id, kind: 'revoke-key' as const, ticketId: null, subject: k.getFingerprint().toUpperCase(),
          payload: JSON.stringify({ kind: 'revoke-key', fingerprint: k.getFingerprint().toUpperCase(), revocation: rev }),
          requester: 'someone@apply.test', parentMessageId: null, sourceDigest: 'a'.repeat(64), signers: [], approvers: [], createdAt: new Date().toISOString() },
      });
      const r1 = (await openpgp.revokeKey({ key: k1, format: 'object' })).publicKey;
      const r2 = (await openpgp.revokeKey({ key: k2, format: 'object' })).publicKey;
      await app.store.commitEffects([change('c-crash-1', k1, r1.armor()), change('c-crash-2', k2, r2.armor())], []);
      // ... and for the second one the commit itself was made before the crash.
      await col.apply((c) => c.putKey(r2, 'public'), { message: 'Revoke key two (before the crash)', trailers: { 'Ztrust-Change': 'c-crash-2' }, signer: null });
      const head = (await col.git(['rev-parse', 'HEAD'])).trim();

      await runOnce(app);
      for (const id of ['c-crash-1', 'c-crash-2']) assert.equal((await app.store.getChange(id))!.state, 'applied', id);
      assert.equal((await app.store.getChange('c-crash-2'))!.commit, head, 'the earlier commit is recorded, not redone');
      const log = (await col.git(['log', '--format=%s'])).trim().split('\n');
      assert.deepEqual(log.slice(0, 2).sort(), ['Revoke key 0x' + k1.getKeyID().toHex() + ' (one@apply.test)', 'Revoke key two (before the crash)'].sort());
      assert.equal(log.filter((l) => l.startsWith('Revoke key')).length, 2, 'one commit per change');
      for (const k of [k1, k2]) assert.equal((await inspectKey((await col.findKeys(k.getFingerprint()))[0].key, { collection: [] })).revoked, true);
      // The notices went out through the outbound queue.
      assert.equal(readdirSync(path.join(dataDir, 'outbox')).filter((f) => f.endsWith('.eml')).length, 2);

      // Job ids come from change ids: enqueueing a change again is one job, and an applied change is skipped.
      const redisEp = await connectRedis(redis.url, dataDir, 'redis-server', silentLogger);
      const producer = new ApplyProducer(bullConnection(redisEp), init.config);
      try {
        await producer.enqueue(['c-crash-1', 'c-crash-1']);
        const job = await producer.queue.getJob(applyJobId('c-crash-1'));
        assert.ok(job);
        assert.equal(await job.getState(), 'completed', 'the completed job is not added again');
        assert.equal(await producer.queue.getGlobalConcurrency(), 1);
      } finally {
        await producer.close();
        await redisEp.stop();
      }
      await runOnce(app);
      assert.equal((await col.git(['log', '--format=%s'])).trim().split('\n').filter((l) => l.startsWith('Revoke key')).length, 2);
    } finally {
      await app.close();
    }
  });
});

// Issue 8, "What must be true" 3: every mail the bot sent (replies, maintainer
// notices with the newcomers' user ids, applied notices) read by Python's
// email package and gpg.
test('every mail the SMTP listener received in this file reads cleanly in Python and verifies with gpg', async () => {
  assert.ok(smtp.messages.length >= 10, `only ${smtp.messages.length} mails`);
  for (const m of smtp.messages) await assertBotMail(m.raw, bot.botPublicKey);
});
