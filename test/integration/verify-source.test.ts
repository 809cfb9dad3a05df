/**
 * Issue 11, items 3 and 4, on the real stack (Dovecot, Redis, the SMTP
 * listener, the bot run as its CLI) with keys, tarball signatures and
 * mail made by real GnuPG:
 *
 *   - upstream release keys vouched for releases through the real apply
 *     step (a queued add-source-key change applied by applyChange: the key
 *     file, the key-and-source.md row, one commit, one log entry);
 *   - VERIFY bash-5.3 by mail: the key, who vouched and when, the ticket,
 *     status today and the vouching entry with its proof, which
 *     `ztrust-bot verify-proof` accepts; an unknown release says so and
 *     names the package's vouched releases;
 *   - VERIFY with bash-5.3.tar.gz.sig attached (binary, unsigned mail; and
 *     .asc inside a member's PGP/MIME-signed mail): the key as a source key
 *     for bash-5.3, the key in the reply, the gpg commands, which are run
 *     as written in a fresh GnuPG home and accept the real tarball (and
 *     refuse a tampered one); a signature by a key vouched for zlib says it
 *     does not match; the reply never claims to have checked the file;
 *   - `ztrust-bot verify-source`: a good tarball (exit 0), a tampered one, a
 *     signature by the zlib key on bash-5.3.tar.gz, a revoked source key, a
 *     missing log, the wrong log key (each exit 1 with its reason), --no-log
 *     (exit 0, the vouch UNCHECKED), usage errors (exit 2).
 *
 * Every mail the bot sends is read by Python's email parser and verified by
 * gpg (test/harness/mailcheck.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { openApp } from '../../src/app/app.js';
import { canonicalContent, expiryFor, formatTicketId, ticketDigest } from '../../src/tickets/ticket.js';
import { Collection } from '../../src/collection/collection.js';
import { formatRoot, rootDigest } from '../../src/root/document.js';
import { rootVersionFiles } from '../../src/root/files.js';
import { generateLogKey } from '../../src/tlog/note.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { readKeysAny } from '../../src/pgp/inspect.js';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startSmtp, type SmtpHandle, type CapturedMail } from '../harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { assertBotMail } from '../harness/mailcheck.js';
import { findBinary } from '../harness/procs.js';
import { makeBot, readReply, runCli, type BotSetup, type ReplyInfo } from './bot.js';

let dovecot: DovecotHandle;
let redis: RedisHandle;
let smtp: SmtpHandle;
let gpg: GpgHome;
let bot: BotSetup;
let work: string;
let vkey: string;
const fpr = { ada: '', max: '', bash: '', zlib: '', tar: '' };
const files = { tarball: '', sig: '', asc: '', zlibSig: '', tarTarball: '', tarSig: '' };
let tarballBytes: Buffer;
const TICKET = { bash: '', zlib: '', tar: '' };
const logIndex: Record<string, number> = {};

const hdr = (id: string, from = 'Rita Reader <rita@example.org>') => ({ from, to: 'ztrust-bot@example.org', subject: id, messageId: `<${id}@example.org>` });

/** An unsigned mail with attachments, as a mail client writes one (nodemailer's composer). */
async function mailWithAttachments(id: string, text: string, attachments: { filename: string; content: Buffer; contentType: string }[]): Promise<Buffer> {
  const h = hdr(id);
  return new MailComposer({ from: h.from, to: h.to, subject: h.subject, messageId: h.messageId, text, attachments }).compile().build();
}

/** Deliver, run the worker once, and return the one reply, checked by Python's parser and gpg. */
async function ask(raw: Buffer): Promise<{ mail: CapturedMail; info: ReplyInfo }> {
  const start = smtp.messages.length;
  await dovecot.deliver(raw);
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
  const all = await smtp.waitFor(start + 1, 20_000);
  assert.equal(all.length, start + 1, 'exactly one reply');
  const mail = all[start];
  await assertBotMail(mail.raw, bot.botPublicKey, { signing: 'pgpmime' });
  return { mail, info: await readReply(mail) };
}

/**
 * Vouch for an upstream key the way the bot does it: an add-source-key
 * ticket opened by a member (recorded as SUBMIT SOURCE KEY's handler
 * records it), approved by the maintainer with a real signed APPROVE mail,
 * then applied by the worker's apply step (key file, list row, commit, log
 * entry). Returns the ticket and the vouching entry's log index.
 */
async function vouch(keyFpr: string, releases: string[]): Promise<{ ticket: string; index: number }> {
  const cfg = loadConfig(bot.configPath);
  let app = await openApp(cfg, silentLogger);
  let id: string;
  let digest: string;
  try {
    const armored = await gpg.exportPublic(keyFpr);
    const now = new Date();
    id = formatTicketId(cfg.tickets.prefix, await app.store.nextTicketNumber());
    const expires = expiryFor(now, cfg.tickets.expireDays);
    const content = canonicalContent({
      id, kind: 'add-source-key', subject: keyFpr, submitter: fpr.ada, created: now, expires, summary: [['Releases', releases.join(' ')]], data: armored,
    });
    digest = ticketDigest(content);
    await app.store.commitEffects([{
      kind: 'ticket-create',
      ticket: {
        id, kind: 'add-source-key', subject: keyFpr, submitter: fpr.ada, requester: 'ada@example.org', parentMessageId: null,
        sourceDigest: createHash('sha256').update(id).digest('hex'), content, digest,
        payload: JSON.stringify({ kind: 'add-source-key', fingerprint: keyFpr, armored, releases, checked: 'https://upstream.example/keys' }),
        createdAt: now.toISOString(), expiresAt: expires.toISOString(), spoolKey: null,
      },
    }], []);
  } finally {
    await app.close();
  }
  await dovecot.deliver(await gpg.pgpMimeMessage(fpr.max, hdr(`approve-${id}`, 'Max Maintainer <max@example.org>'),
    `APPROVE ${id} ${digest}\nTo: ztrust-bot@example.org\n`));
  const r = await runCli(['run', '--once', '--config', bot.configPath], bot.env);
  assert.equal(r.code, 0, r.stderr);
  app = await openApp(cfg, silentLogger);
  try {
    const ticket = await app.store.getTicket(id);
    assert.equal(ticket?.state, 'applied', JSON.stringify(ticket));
    const rows = await app.store.findSourceVouches({ fingerprint: keyFpr });
    assert.equal(rows.length, releases.length);
    return { ticket: id, index: rows[0].logIndex };
  } finally {
    await app.close();
  }
}

before(async () => {
  [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
  fpr.ada = await gpg.genKey('Ada Member <ada@example.org>', { algo: 'ed25519' });
  fpr.max = await gpg.genKey('Max Maintainer <max@example.org>', { algo: 'ed25519' });
  await gpg.signKey(fpr.max, fpr.ada);
  fpr.bash = await gpg.genKey('Bash Release Signing <bash-release@upstream.example>', { algo: 'ed25519', encryptSubkey: false });
  fpr.zlib = await gpg.genKey('Zlib Release Signing <zlib-release@upstream.example>', { algo: 'ed25519', encryptSubkey: false });
  fpr.tar = await gpg.genKey('Tar Release Signing <tar-release@upstream.example>', { algo: 'ed25519', encryptSubkey: false });
  bot = await makeBot({
    mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url,
    config: { maintainers: [fpr.max], threshold: 1, queue: { redisUrl: redis.url, prefix: 'verify-source' } },
  });
  await gpg.importKeys(bot.botPublicKey);
  const col = await Collection.open(path.join(bot.dataDir, 'collection'));
  const members = [await gpg.exportPublic(fpr.ada), await gpg.exportPublic(fpr.max)];
  await col.apply(async (c) => {
    for (const armored of members) await c.putKey((await readKeysAny(armored))[0], 'public', { armored });
  }, { message: 'seed the members', signer: null });

  for (const [name, releases] of [['bash', ['bash-5.2', 'bash-5.3']], ['zlib', ['zlib-1.3']], ['tar', ['tar-1.35']]] as const) {
    const v = await vouch(fpr[name], [...releases]);
    TICKET[name] = v.ticket;
    logIndex[name] = v.index;
  }

  // The release files and their detached signatures, as upstream publishes them.
  work = mkdtempSync(path.join(tmpdir(), 'zt-source-'));
  tarballBytes = randomBytes(64 * 1024);
  files.tarball = path.join(work, 'bash-5.3.tar.gz');
  writeFileSync(files.tarball, tarballBytes);
  files.sig = `${files.tarball}.sig`;
  writeFileSync(files.sig, await gpg.detachSign(fpr.bash, tarballBytes));
  files.asc = `${files.tarball}.asc`;
  writeFileSync(files.asc, await gpg.detachSign(fpr.bash, tarballBytes, { armor: true }));
  files.zlibSig = path.join(work, 'bash-5.3.tar.gz.by-zlib.sig');
  writeFileSync(files.zlibSig, await gpg.detachSign(fpr.zlib, tarballBytes));
  files.tarTarball = path.join(work, 'tar-1.35.tar.xz');
  const tarBytes = randomBytes(10_000);
  writeFileSync(files.tarTarball, tarBytes);
  files.tarSig = `${files.tarTarball}.sig`;
  writeFileSync(files.tarSig, await gpg.detachSign(fpr.tar, tarBytes));

  const key = await runCli(['key', '--log', '--config', bot.configPath], bot.env);
  assert.equal(key.code, 0, key.stderr);
  vkey = key.stdout.trim();
});

after(async () => {
  await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
});

/** The tar key revoked by its upstream (gpg's own revocation certificate imported), exported. */
async function revokedTarKey(): Promise<string> {
  const cert = readFileSync(path.join(gpg.home, 'openpgp-revocs.d', `${fpr.tar}.rev`), 'latin1');
  const imp = await gpg.run(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
  assert.equal(imp.code, 0, imp.stderr);
  return gpg.exportPublic(fpr.tar);
}

const bashKeyFile = () => `pgp/for-source/0x${fpr.bash.slice(-16).toLowerCase()}-bash-release@upstream.example-signing.asc`;

describe('VERIFY <release> by mail', () => {
  test('the apply step put the keys, the rows and one log entry each in place', async () => {
    const list = readFileSync(path.join(bot.dataDir, 'collection', 'pgp', 'for-source', 'key-and-source.md'), 'utf8');
    assert.match(list, new RegExp(`^ +0x${fpr.bash.slice(-16).toLowerCase()}-bash-release@upstream\\.example-signing\\.asc +bash-5\\.3$`, 'm'));
    assert.match(list, /zlib-1\.3$/m);
    assert.deepEqual([logIndex.bash, logIndex.zlib, logIndex.tar], [0, 1, 2]);
  });

  test('VERIFY bash-5.3: the key, who vouched, when, the ticket, status today and the proof; gpg and verify-proof accept the reply', async () => {
    const { mail, info } = await ask(gpg.plainMessage(hdr('release-1'), 'VERIFY bash-5.3\n'));
    assert.deepEqual(info.to, ['rita@example.org']);
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, /^Release: bash-5\.3$/m);
    assert.match(info.text, /^Log-Index: 0$/m);
    assert.match(info.text, /The release bash-5\.3 is signed by 1 key in the\s+collection/);
    assert.match(info.text, new RegExp(`Fingerprint: ${fpr.bash}\\n  Identity: {4}Bash Release Signing <bash-release@upstream\\.example>`));
    assert.match(info.text, new RegExp(`  Key file:\\s+${bashKeyFile().replace(/\./g, '\\.')}\n`));
    assert.match(info.text, /Key today: {3}valid, no expiry date/);
    assert.match(info.text, /Listed: {6}yes, in pgp\/for-source\/key-and-source\.md/);
    assert.match(info.text, new RegExp(`Vouched by:  ${fpr.ada}\\n {15}Ada Member <ada@example\\.org>\\n {15}key today: valid`));
    assert.match(info.text, /Vouched: {5}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    assert.match(info.text, new RegExp(`Ticket: {6}${TICKET.bash}`));
    assert.match(info.text, /Log index: {3}0 \(source-key-added: bash-5\.2 bash-5\.3\)/);
    assert.match(info.text, /^ztrust-log-entry v1\ntype: source-key-added\n/m);
    assert.match(info.text, /^c2sp\.org\/tlog-proof@v1\nindex 0\n/m);
    const v = await gpg.verifyMail(mail.raw);
    assert.equal(v.ok, true, v.status);
    assert.equal(v.signer, bot.botFingerprint);

    const saved = path.join(work, 'release.eml');
    writeFileSync(saved, mail.raw);
    const r = await runCli(['verify-proof', saved, '--log-key', vkey], bot.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^ok: entry 0 is in log test\\.ztrust\\.example/log at tree size 3: source-key-added ${fpr.bash} by ${fpr.ada}`, 'm'));
  });

  test('an artifact name asks about its release: VERIFY bash-5.3.tar.gz', async () => {
    const { info } = await ask(gpg.plainMessage(hdr('release-2'), 'VERIFY bash-5.3.tar.gz\n'));
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, /You asked about bash-5\.3\.tar\.gz, which is release bash-5\.3\./);
    assert.match(info.text, new RegExp(`Fingerprint: ${fpr.bash}`));
  });

  test('an unknown release: not found, said to be the index\'s word, with the package\'s vouched releases', async () => {
    const { info } = await ask(gpg.plainMessage(hdr('release-3'), 'VERIFY bash-5.1\n'));
    assert.equal(info.status, 'not-found', info.text);
    assert.match(info.text, /No key in the collection is vouched for the release bash-5\.1/);
    assert.match(info.text, /is not verifiable/);
    assert.match(info.text, /Releases of bash that keys are vouched for:\n\n {2}bash-5\.2\n {2}bash-5\.3\n/);
    assert.doesNotMatch(info.text, /tlog-proof/);
    const none = await ask(gpg.plainMessage(hdr('release-4'), 'VERIFY openssl-3.3.1\n'));
    assert.equal(none.info.status, 'not-found');
    assert.doesNotMatch(none.info.text, /Releases of/);
  });
});

/** The gpg commands of a reply, as a person would paste them: continuation lines joined, split into words. */
function gpgCommands(text: string): string[][] {
  const joined = text.replace(/ \\\n\s+/g, ' ');
  return joined.split('\n').filter((l) => /^ {2}gpg /.test(l)).map((l) => l.trim().split(/\s+/).slice(1));
}

/** Runs the reply's gpg commands in a fresh GnuPG home, in a directory holding the key from the reply, the signature and `artifact`. */
/**
 * The reply's gpg lines run in a fresh GnuPG home, as a user would. The key
 * is the one attached to the reply (`attached`: its bytes, from a MIME
 * parser) or, without one, the copy printed in the signed text.
 */
async function runGpgLines(text: string, sigFile: string, sigName: string, artifact: Buffer, attached?: { filename: string; content: Buffer }): Promise<{ code: number | null; out: string }> {
  const home = await makeGpgHome();
  try {
    const dir = mkdtempSync(path.join(tmpdir(), 'zt-user-'));
    const armored = attached?.content ?? /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----\n?/.exec(text)?.[0];
    assert.ok(armored, 'the key is in the reply');
    const keyName = /save the key as\s+(0x[0-9a-f]{16}\.asc)/.exec(text)?.[1];
    assert.ok(keyName, 'the reply says what to save the key as');
    if (attached) assert.equal(attached.filename, keyName, 'the attachment has the name the reply tells the user to save it as');
    writeFileSync(path.join(dir, keyName), armored);
    writeFileSync(path.join(dir, sigName), await readFile(sigFile));
    writeFileSync(path.join(dir, 'bash-5.3.tar.gz'), artifact);
    const cmds = gpgCommands(text);
    assert.equal(cmds.length, 2, `two gpg commands: ${JSON.stringify(cmds)}`);
    let last = { code: null as number | null, out: '' };
    for (const args of cmds) {
      const r = spawnSync(findBinary('gpg', 'gnupg'), args, { cwd: dir, env: { ...process.env, GNUPGHOME: home.home }, encoding: 'utf8', timeout: 60_000 });
      last = { code: r.status, out: r.stdout + r.stderr };
      if (r.status !== 0) break;
    }
    return last;
  } finally {
    await home.cleanup();
  }
}

describe('VERIFY with a detached signature attached', () => {
  test('binary .sig in an unsigned mail: the source key for bash-5.3, the key, the gpg line that checks the real tarball', async () => {
    const raw = await mailWithAttachments('sig-1', 'VERIFY\n', [{ filename: 'bash-5.3.tar.gz.sig', content: readFileSync(files.sig), contentType: 'application/pgp-signature' }]);
    const { mail, info } = await ask(raw);
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, new RegExp(`^Issuer: ${fpr.bash}$`, 'm'));
    assert.match(info.text, /^Release: bash-5\.3$/m);
    assert.match(info.text, /You sent the detached signature file bash-5\.3\.tar\.gz\.sig \(binary, 1\s+signature\)\./);
    assert.match(info.text, /THE BOT DID NOT CHECK THIS SIGNATURE AGAINST ANY FILE\./);
    assert.match(info.text, /a detached signature cannot be checked against\s+a file name or a hash alone/);
    assert.match(info.text, new RegExp(`Names as signer \\(not checked\\):\\n {15}${fpr.bash}\\n`));
    assert.match(info.text, /That key is in the collection as: an upstream source-signing key/);
    assert.match(info.text, new RegExp(`  Key file:\\s+${bashKeyFile().replace(/\./g, '\\.')}\n`));
    assert.match(info.text, /Key today: {3}valid, no expiry date/);
    assert.match(info.text, /Vouched for: bash-5\.2, bash-5\.3/);
    assert.match(info.text, /Artifact: {4}bash-5\.3\.tar\.gz \(from the signature's name\)/);
    assert.match(info.text, /Would match: yes, if the signature checks out over your file:\n {15}the key is vouched for release bash-5\.3/);
    assert.match(info.text, new RegExp(`Vouched by:  ${fpr.ada}\\n {15}Ada Member <ada@example\\.org>\\n {15}key today: valid`));
    assert.match(info.text, /^c2sp\.org\/tlog-proof@v1\nindex 0\n/m);
    assert.match(info.text, /ztrust-bot verify-source bash-5\.3\.tar\.gz bash-5\.3\.tar\.gz\.sig \\\n {6}--collection DIR --log LOGDIR --log-key log\.vkey/);

    // The key is attached inside the signed part (PGP/MIME reply), byte for byte the copy printed in the text.
    const parsed = await simpleParser(mail.raw);
    const keys = parsed.attachments.filter((a) => a.contentType === 'application/pgp-keys');
    assert.equal(keys.length, 1, `one key attached: ${parsed.attachments.map((a) => `${a.filename} ${a.contentType}`).join(', ')}`);
    assert.ok(info.text.includes(keys[0].content.toString('utf8').replace(/\r\n/g, '\n').trimEnd()), 'the attached key is the one printed in the signed text');
    const good = await runGpgLines(info.text, files.sig, 'bash-5.3.tar.gz.sig', tarballBytes, { filename: keys[0].filename ?? '', content: keys[0].content });
    assert.equal(good.code, 0, good.out);
    assert.match(good.out, /Good signature from "Bash Release Signing <bash-release@upstream\.example>"/);
    const tampered = Buffer.from(tarballBytes);
    tampered[100] ^= 0xff;
    const bad = await runGpgLines(info.text, files.sig, 'bash-5.3.tar.gz.sig', tampered);
    assert.notEqual(bad.code, 0, 'the same gpg line refuses a tampered tarball');
    assert.match(bad.out, /BAD signature/);

    const saved = path.join(work, 'sig.eml');
    writeFileSync(saved, mail.raw);
    const r = await runCli(['verify-proof', saved, '--log-key', vkey], bot.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('armoured .asc with the file name and SHA-256, inside a member\'s PGP/MIME-signed mail', async () => {
    const sha = createHash('sha256').update(tarballBytes).digest('hex');
    const raw = await gpg.pgpMimeMessage(fpr.ada, hdr('sig-2', 'Ada Member <ada@example.org>'), `VERIFY bash-5.3.tar.gz ${sha}\n`, {
      attachments: [{ filename: 'bash-5.3.tar.gz.asc', contentType: 'application/pgp-signature', content: readFileSync(files.asc) }],
    });
    const { info } = await ask(raw);
    assert.deepEqual(info.to, ['ada@example.org']);
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, /bash-5\.3\.tar\.gz\.asc \(armoured, 1\s+signature\), inside the part of your mail that your signature\s+covers\./);
    assert.doesNotMatch(info.text, /OpenPGP_signature\.asc/);
    assert.match(info.text, new RegExp(`The SHA-256 you gave was not used to check anything:\\n\\n  ${sha}`));
    assert.match(info.text, /Artifact: {4}bash-5\.3\.tar\.gz \(as you named it\)/);
    assert.match(info.text, /Would match: yes, if the signature checks out over your file:\n {15}the key is vouched for release bash-5\.3/);
    const good = await runGpgLines(info.text, files.asc, 'bash-5.3.tar.gz.asc', tarballBytes);
    assert.equal(good.code, 0, good.out);
  });

  test('a signature by the key vouched for zlib-1.3, on bash-5.3.tar.gz: found, and it does NOT match', async () => {
    const raw = await mailWithAttachments('sig-3', 'VERIFY bash-5.3.tar.gz\n', [{ filename: 'bash-5.3.tar.gz.sig', content: readFileSync(files.zlibSig), contentType: 'application/octet-stream' }]);
    const { info } = await ask(raw);
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, new RegExp(`^Issuer: ${fpr.zlib}$`, 'm'));
    assert.doesNotMatch(info.text, /^Release: /m);
    assert.match(info.text, /Vouched for: zlib-1\.3/);
    assert.match(info.text, /Would match: NO: the key it names is not vouched for the release\n {15}this file name names\./);
    assert.match(info.text, /^c2sp\.org\/tlog-proof@v1\nindex 1\n/m, 'the proof of the key\'s own vouch');
  });

  test('a signature by a key outside the collection: not found, no key, no gpg line', async () => {
    const strangerFpr = await gpg.genKey('Stranger <stranger@elsewhere.example>', { algo: 'ed25519', encryptSubkey: false });
    const raw = await mailWithAttachments('sig-4', 'VERIFY\n', [{ filename: 'bash-5.3.tar.gz.sig', content: await gpg.detachSign(strangerFpr, tarballBytes), contentType: 'application/pgp-signature' }]);
    const { info } = await ask(raw);
    assert.equal(info.status, 'not-found', info.text);
    assert.match(info.text, new RegExp(`Names as signer \\(not checked\\):\\n {15}${strangerFpr}\\n`));
    assert.match(info.text, /In the collection: NO\./);
    assert.doesNotMatch(info.text, /BEGIN PGP PUBLIC KEY BLOCK|gpg --verify|tlog-proof|verify-proof/);
    assert.match(info.text, /THE BOT DID NOT CHECK THIS SIGNATURE/);
  });

  test('a signature by a member key: in the collection as a member key, vouched for no release, no match', async () => {
    const raw = await mailWithAttachments('sig-6', 'VERIFY bash-5.3.tar.gz\n', [{ filename: 'bash-5.3.tar.gz.sig', content: await gpg.detachSign(fpr.ada, tarballBytes), contentType: 'application/pgp-signature' }]);
    const { info } = await ask(raw);
    assert.equal(info.status, 'found', info.text);
    assert.match(info.text, /That key is in the collection as: a community member key/);
    assert.match(info.text, /Vouched for: no release \(no vouch for this key is in the log\)/);
    assert.match(info.text, /Would match: NO: /);
    assert.doesNotMatch(info.text, /^Release: /m);
    assert.match(info.text, /-----BEGIN PGP PUBLIC KEY BLOCK-----/, 'the member key as the collection holds it');
  });

  test('an attachment named .sig that is no signature: refused with the rule and the fix', async () => {
    const raw = await mailWithAttachments('sig-5', 'VERIFY\n', [{ filename: 'bash-5.3.tar.gz.sig', content: Buffer.from([0x88, 0x01, 0x02]), contentType: 'application/octet-stream' }]);
    const { info } = await ask(raw);
    assert.equal(info.status, 'error', info.text);
    assert.match(info.text, /^Rule: signature-file-/m);
    assert.match(info.text, /^How to fix it: attach the detached signature file/m);
  });
});

test('every mail the bot sent (approvals, notices, replies) reads cleanly in Python and verifies with gpg', async () => {
  assert.ok(smtp.messages.length >= 10, `${smtp.messages.length} mails`);
  for (const m of smtp.messages) await assertBotMail(m.raw, bot.botPublicKey, { signing: 'pgpmime' });
});

describe('ztrust-bot verify-source', () => {
  const collection = () => path.join(bot.dataDir, 'collection');
  const logDir = () => path.join(bot.dataDir, 'log');

  test('a good tarball and its .sig (found beside it): exit 0, the row and the vouching entry named; --json too', async () => {
    const r = await runCli(['verify-source', files.tarball, '--collection', collection(), '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^ok: signature: .*bash-5\\.3\\.tar\\.gz\\.sig is a good signature over bash-5\\.3\\.tar\\.gz by ${fpr.bash} \\(Bash Release Signing <bash-release@upstream\\.example>\\), upstream source-signing key ${bashKeyFile().replace(/\./g, '\\.')}`, 'm'));
    assert.match(r.stdout, /^ok: key: not revoked; no expiry date$/m);
    assert.match(r.stdout, /^ok: release: pgp\/for-source\/key-and-source\.md: 0x[0-9a-f]{16}-bash-release@upstream\.example-signing\.asc bash-5\.3$/m);
    assert.match(r.stdout, new RegExp(`^ok: log: entry 0 \\(source-key-added bash-5\\.2 bash-5\\.3, .*, vouched by ${fpr.ada}, ticket ${TICKET.bash}\\) is included in log test\\.ztrust\\.example/log at tree size 3$`, 'm'));

    const j = await runCli(['verify-source', files.tarball, files.asc, '--collection', collection(), '--log', logDir(), '--log-key', vkey, '--json'], bot.env);
    assert.equal(j.code, 0, j.stdout + j.stderr);
    const out = JSON.parse(j.stdout) as { ok: boolean; release: string; key: { fingerprint: string; kind: string }; entry: { index: number; voucher: string; ticket: string } };
    assert.equal(out.ok, true);
    assert.equal(out.release, 'bash-5.3');
    assert.deepEqual([out.key.fingerprint, out.key.kind], [fpr.bash, 'source']);
    assert.deepEqual([out.entry.index, out.entry.voucher, out.entry.ticket], [0, fpr.ada, TICKET.bash]);
  });

  test('a tampered tarball: exit 1, the signature does not verify', async () => {
    const bad = path.join(mkdtempSync(path.join(tmpdir(), 'zt-bad-')), 'bash-5.3.tar.gz');
    const bytes = Buffer.from(tarballBytes);
    bytes[bytes.length - 1] ^= 0x01;
    writeFileSync(bad, bytes);
    const r = await runCli(['verify-source', bad, files.sig, '--collection', collection(), '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAILED: signature: .* is not a good signature over bash-5\.3\.tar\.gz \(by 0x[0-9a-f]{16}: the signature does not verify over the file: /m);
    assert.match(r.stderr, /verify-source: .*bash-5\.3\.tar\.gz: signature: /);
  });

  test('a good signature by the key vouched for zlib-1.3, on bash-5.3.tar.gz: exit 1, not vouched for this release', async () => {
    const r = await runCli(['verify-source', files.tarball, files.zlibSig, '--collection', collection(), '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: signature: /m);
    assert.match(r.stdout, /^FAILED: release: pgp\/for-source\/key-and-source\.md has no row for this key and bash-5\.3: the key is listed for zlib-1\.3 only, so it is NOT vouched to sign bash-5\.3\.tar\.gz$/m);
    // --release cannot talk it into bash-5.3 either; it can name the release the key is vouched for.
    const named = await runCli(['verify-source', files.tarball, files.zlibSig, '--release', 'zlib-1.3', '--collection', collection(), '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(named.code, 0, named.stdout + named.stderr);
  });

  test('a good signature by a member key: the kind is said, and exit 1: no row vouches it for bash-5.3', async () => {
    const sigFile = path.join(work, 'bash-5.3.tar.gz.by-ada.sig');
    writeFileSync(sigFile, await gpg.detachSign(fpr.ada, tarballBytes));
    const r = await runCli(['verify-source', files.tarball, sigFile, '--collection', collection(), '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^ok: signature: .* by ${fpr.ada} \\(Ada Member <ada@example\\.org>\\), community member key \\(not a source-signing key\\) pgp/all/`, 'm'));
    assert.match(r.stdout, /^FAILED: release: .*the key is listed for no release at all$/m);
  });

  test('a revoked source key: exit 1, the key is revoked', async () => {
    // The published collection after the upstream revoked its key: the key file carries the revocation.
    const published = mkdtempSync(path.join(tmpdir(), 'zt-published-'));
    cpSync(collection(), published, { recursive: true });
    const revoked = await revokedTarKey();
    const file = `0x${fpr.tar.slice(-16).toLowerCase()}-tar-release@upstream.example-signing.asc`;
    writeFileSync(path.join(published, 'pgp', 'for-source', file), revoked);
    const before = await runCli(['verify-source', files.tarTarball, '--collection', collection(), '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(before.code, 0, `the unrevoked copy passes: ${before.stdout}${before.stderr}`);
    const r = await runCli(['verify-source', files.tarTarball, '--collection', published, '--log', logDir(), '--log-key', vkey], bot.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: key: the key ${fpr.tar} is REVOKED`, 'm'));
  });

  test('no log: exit 1 saying the vouch is unchecked; --no-log: exit 0 with the vouch UNCHECKED; the wrong log key: exit 1', async () => {
    const r = await runCli(['verify-source', files.tarball, '--collection', collection()], bot.env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAILED: log: no log given: the vouch behind the row cannot be checked/m);
    const skip = await runCli(['verify-source', files.tarball, '--collection', collection(), '--no-log'], bot.env);
    assert.equal(skip.code, 0, skip.stdout + skip.stderr);
    assert.match(skip.stdout, /^UNCHECKED: log: no log given \(--no-log\): the vouch for this row is UNCHECKED/m);
    const other = await runCli(['key', '--log', '--config', (await makeBot({ mailboxUrl: dovecot.imapUrl, outboxUrl: smtp.url })).configPath], bot.env);
    assert.equal(other.code, 0, other.stderr);
    const wrong = await runCli(['verify-source', files.tarball, '--collection', collection(), '--log', logDir(), '--log-key', other.stdout.trim()], bot.env);
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stdout, /^FAILED: log: the log in .* cannot be read with this log key/m);
  });

  test('--root: the log key is the one the trust root names (reached from a saved root); a root naming another log key fails', async () => {
    // A checkout of the published collection with a root approved by the maintainer (gpg clearsign), as the bot publishes it.
    const publishRoot = async (name: string, logKey: string): Promise<{ dir: string; saved: string }> => {
      const dir = path.join(work, name);
      cpSync(collection(), dir, { recursive: true });
      const issued = new Date(Date.now() - 86_400_000);
      const text = formatRoot({ version: 1, issued, expires: new Date(issued.getTime() + 365 * 86_400_000), threshold: 1, maintainers: [fpr.max],
        botKey: bot.botFingerprint, logOrigin: 'test.ztrust.example/log', logKey, previous: null });
      const approval = { fingerprint: fpr.max, cleartext: await gpg.clearsign(fpr.max, `APPROVE ROOT-1 ${rootDigest(text)}\n`), key: await gpg.exportPublic(fpr.max) };
      for (const [rel, bytes] of rootVersionFiles(1, text, rootDigest(text), [approval])) {
        mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        writeFileSync(path.join(dir, rel), bytes);
      }
      const saved = path.join(work, `${name}-root-1.txt`);
      writeFileSync(saved, text);
      return { dir, saved };
    };
    const good = await publishRoot('rooted', vkey);
    const r = await runCli(['verify-source', files.tarball, '--collection', good.dir, '--log', logDir(), '--root', good.saved], bot.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: log: entry 0 /m);
    const otherKey = generateLogKey('test.ztrust.example/log').vkey;
    const mismatch = await runCli(['verify-source', files.tarball, '--collection', good.dir, '--log', logDir(), '--root', good.saved, '--log-key', otherKey], bot.env);
    assert.equal(mismatch.code, 1, mismatch.stdout + mismatch.stderr);
    assert.match(mismatch.stderr, /is not the log key of the current root \(version 1\)/);
    const lying = await publishRoot('rooted-other-log', otherKey);
    const l = await runCli(['verify-source', files.tarball, '--collection', lying.dir, '--log', logDir(), '--root', lying.saved], bot.env);
    assert.equal(l.code, 1, l.stdout + l.stderr);
    assert.match(l.stdout, /^FAILED: log: the log in .* cannot be read with this log key/m);
    const noLog = await runCli(['verify-source', files.tarball, '--collection', good.dir, '--root', good.saved], bot.env);
    assert.equal(noLog.code, 2, noLog.stdout + noLog.stderr);
  });

  test('usage errors: exit 2', async () => {
    const noCollection = await runCli(['verify-source', files.tarball], bot.env);
    assert.equal(noCollection.code, 2, noCollection.stderr);
    const noSig = path.join(mkdtempSync(path.join(tmpdir(), 'zt-nosig-')), 'bash-5.3.tar.gz');
    writeFileSync(noSig, tarballBytes);
    const r = await runCli(['verify-source', noSig, '--collection', collection(), '--no-log'], bot.env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /neither .*bash-5\.3\.tar\.gz\.sig nor .*bash-5\.3\.tar\.gz\.asc exists/);
    const noKey = await runCli(['verify-source', files.tarball, '--collection', collection(), '--log', logDir()], { ...bot.env, ZTRUST_CONFIG: '' });
    assert.equal(noKey.code, 2, noKey.stderr);
  });
});

describe('a source key revoked in the collection, by mail', () => {
  test('VERIFY tar-1.35 and VERIFY with its .sig say REVOKED', async () => {
    // The upstream revoked its key and the collection carries the revoked copy.
    const col = await Collection.open(path.join(bot.dataDir, 'collection'));
    const file = `0x${fpr.tar.slice(-16).toLowerCase()}-tar-release@upstream.example-signing.asc`;
    const revoked = await revokedTarKey();
    await col.apply(async (c) => {
      await c.putSourceKey((await readKeysAny(revoked))[0], { fileName: file, armored: revoked });
    }, { message: 'the upstream revoked its key', signer: null });
    const byRelease = await ask(gpg.plainMessage(hdr('revoked-1'), 'VERIFY tar-1.35\n'));
    assert.equal(byRelease.info.status, 'found', byRelease.info.text);
    assert.match(byRelease.info.text, /Key today: {3}REVOKED since \d{4}-\d\d-\d\d/);
    const raw = await mailWithAttachments('revoked-2', 'VERIFY\n', [{ filename: 'tar-1.35.tar.xz.sig', content: readFileSync(files.tarSig), contentType: 'application/pgp-signature' }]);
    const bySig = await ask(raw);
    assert.equal(bySig.info.status, 'found', bySig.info.text);
    assert.match(bySig.info.text, /Key today: {3}REVOKED since \d{4}-\d\d-\d\d/);
    assert.match(bySig.info.text, /Would match: yes, if the signature checks out over your file:\n {15}the key is vouched for release tar-1\.35/);
  });
});
