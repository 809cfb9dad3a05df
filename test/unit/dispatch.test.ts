/**
 * The dispatcher end to end without a queue: raw bytes in, store completion
 * and signed replies out. Keys are made with openpgp.js here for speed; the
 * GnuPG interop is in test/integration/pipeline.test.ts.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { parseConfig, cryptoPolicyOf, type LoadedConfig } from '../../src/config/load.js';
import fc from 'fast-check';
import { Dispatcher, untrustedText } from '../../src/commands/dispatch.js';
import { shapeProse } from '../../src/outbound/frame.js';
import { reflow } from '../../src/mail/text.js';
import { defaultHandlers } from '../../src/commands/index.js';
import { composeSigned, type OutgoingMail } from '../../src/mail/compose.js';
import { signerFromKey, type BotSigner } from '../../src/pgp/botkey.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { spoolKey } from '../../src/store/keys.js';
import { silentLogger } from '../../src/logger.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import type { SpoolRow } from '../../src/store/types.js';
import type { HandlerTable } from '../../src/commands/types.js';

const BOT = 'bot@example.org';
let bot: BotSigner;
let alice: openpgp.PrivateKey;
let mallory: openpgp.PrivateKey;
let oldKey: openpgp.PrivateKey;
let cfg: LoadedConfig;

async function key(name: string, email: string): Promise<openpgp.PrivateKey> {
  return (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email }], format: 'object' })).privateKey;
}

before(async () => {
  bot = signerFromKey(await key('ztrust-bot', BOT));
  alice = await key('Alice', 'alice@example.org');
  mallory = await key('Mallory', 'mallory@example.org');
  oldKey = (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Old', email: 'old@example.org' }],
    date: new Date(Date.now() - 60 * 86400_000), format: 'object' })).privateKey;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdisp-'));
  cfg = parseConfig({ bot: { address: BOT }, mailbox: { url: 'maildir:in' }, outbox: { url: 'dir:out' }, limits: { maxMessageBytes: 20000, maxRepliesPerSenderPerHour: 3 } }, dir);
});

function setup(keys: openpgp.PrivateKey[] = [alice], extraHandlers: HandlerTable = {}) {
  const store = SqliteStore.open(':memory:');
  const keyring = Keyring.fromKeys(keys.map((k) => k.toPublic()));
  const d = new Dispatcher({ config: cfg, store, signer: bot, keyring, policy: cryptoPolicyOf(cfg), logger: silentLogger }, { ...defaultHandlers(), ...extraHandlers });
  let uid = 0;
  const run = async (raw: Buffer) => {
    uid++;
    const row: SpoolRow = { key: spoolKey('test', 1, uid), mailbox: 'test', uidValidity: 1, uid: String(uid), messageId: null, raw,
      receivedAt: new Date().toISOString(), state: 'queued', outcome: null };
    await store.spool(row);
    const out = await d.processMessage(row);
    const res = await store.complete(out.completion);
    return { out, res, replies: out.completion.outbox };
  };
  return { store, run };
}

let n = 0;
async function signedMail(k: openpgp.PrivateKey, body: string, signing: 'pgpmime' | 'inline' = 'pgpmime', date = new Date(), extraHeaders: Record<string, string> = {}): Promise<Buffer> {
  n++;
  const m: OutgoingMail = { from: { address: k.getUserIDs()[0].match(/<(.*)>/)![1] }, to: [BOT], subject: 'test', messageId: `<t${n}.${Date.now()}@example.org>`,
    date, autoSubmitted: null, loopHeader: null, body, signing, headers: extraHeaders };
  return composeSigned(m, signerFromKey(k));
}
function plain(headers: Record<string, string>, body: string): Buffer {
  n++;
  const h = { From: 'erin@example.org', To: BOT, Subject: 'x', 'Message-ID': `<p${n}.${Date.now()}@example.org>`, ...headers };
  return Buffer.from(`${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
}
async function replyText(raw: Buffer): Promise<{ text: string; headers: Map<string, unknown>; parsed: Awaited<ReturnType<typeof simpleParser>> }> {
  const parsed = await simpleParser(raw);
  return { text: parsed.text ?? '', headers: parsed.headers, parsed };
}

test('HELP, unsigned: a signed reply with Status: found, threading and loop headers, 72 columns', async () => {
  const { run } = setup();
  const raw = plain({ 'Message-ID': '<q1@example.org>', References: '<q0@example.org>' }, 'help\n');
  const { replies, out } = await run(raw);
  assert.equal(out.completion.outcome, 'help');
  assert.equal(replies.length, 1);
  const r = replies[0];
  assert.deepEqual(r.recipients, ['erin@example.org']);
  const { text, headers } = await replyText(r.raw);
  assert.match(text, /^Status: found\n/);
  assert.equal(headers.get('x-ztrust-status'), 'found');
  assert.equal(headers.get('auto-submitted'), 'auto-replied');
  assert.equal(headers.get('x-ztrust-loop'), BOT);
  assert.equal(headers.get('in-reply-to'), '<q1@example.org>');
  assert.deepEqual(headers.get('references'), ['<q0@example.org>', '<q1@example.org>']);
  assert.equal(headers.get('subject'), 'Re: x');
  for (const line of text.split('\n')) {
    assert.ok(line.length <= 72, `line over 72 columns: ${line}`);
    assert.ok(!line.includes('\t'));
  }
  // The reply verifies against the bot key with our own verifier too.
  const v = await verifyMail(r.raw, Keyring.fromKeys([await openpgp.readKey({ armoredKey: bot.publicArmored })]));
  assert.equal(v.verdict, 'good');
  assert.equal(v.kind, 'pgpmime');
});

test('HELP signed by a collection key mentions the verified signer', async () => {
  const { run } = setup();
  const { replies } = await run(await signedMail(alice, 'HELP\n', 'inline'));
  const { text } = await replyText(replies[0].raw);
  assert.match(text, new RegExp(alice.getFingerprint().toUpperCase()));
  assert.match(text, /signature verified/);
});

test('a state-changing command without a good signature is refused with the reason', async () => {
  const { run } = setup();
  const r1 = await run(plain({}, 'SUBMIT KEY\n'));
  assert.match(r1.out.completion.outcome, /^refused:unsigned/);
  assert.match((await replyText(r1.replies[0].raw)).text, /^Status: error[\s\S]*must be signed/);
  const r2 = await run(await signedMail(mallory, `APPROVE ZT-000001 00\nTo: ${BOT}\n`));
  assert.match(r2.out.completion.outcome, /^refused:nokey/);
  assert.match((await replyText(r2.replies[0].raw)).text, /not in the collection|not known|nokey|unknown/i);
});

test('a tampered inline signature is refused and the command named', async () => {
  const { run } = setup();
  const good = (await signedMail(alice, `APPROVE ZT-000001 abc\nTo: ${BOT}\n`, 'inline')).toString();
  const { out, replies } = await run(Buffer.from(good.replace('ZT-000001', 'ZT-000002')));
  assert.equal(out.completion.command, 'APPROVE');
  assert.equal(out.completion.verdict, 'bad');
  assert.match((await replyText(replies[0].raw)).text, /APPROVE changes the collection/);
});

test('a recognised command that is not built yet gets a clear Status: error', async () => {
  // Every command has a handler now; take one away to see the dispatcher's answer.
  const { run } = setup([alice], { CHECKPOINT: undefined });
  const { replies, out } = await run(plain({}, 'CHECKPOINT\n'));
  assert.equal(out.completion.outcome, 'not-available');
  const { text } = await replyText(replies[0].raw);
  assert.match(text, /^Status: error/);
  assert.match(text, /CHECKPOINT is recognised, but/);
});

test('signature age and replay: an old signature and a second use are refused', async () => {
  // A stand-in state-changing handler: this test is about the dispatcher's
  // policy checks, which run before any handler.
  const { run } = setup([alice, oldKey], { 'SUBMIT KEY': async () => ({ status: 'accepted', body: 'ok', outcome: 'test-accepted' }) });
  const message = await openpgp.createCleartextMessage({ text: `SUBMIT KEY\nTo: ${BOT}\n` });
  const signedOld = await openpgp.sign({ message, signingKeys: oldKey, date: new Date(Date.now() - 30 * 86400_000), format: 'armored' });
  const r = await run(plain({ From: 'old@example.org' }, signedOld));
  assert.equal(r.out.completion.verdict, 'good');
  assert.equal(r.out.completion.outcome, 'refused:signature-time');
  assert.match((await replyText(r.replies[0].raw)).text, /old; state-changing commands must be signed\s+within/);

  const future = await openpgp.sign({ message, signingKeys: alice, date: new Date(Date.now() + 3600_000), format: 'armored' });
  const f = await run(plain({ From: 'alice@example.org' }, future));
  assert.match(f.out.completion.outcome, /^refused:/, 'a signature from the future is never accepted');

  const fresh = await signedMail(alice, `SUBMIT KEY\nTo: ${BOT}\n`);
  const first = await run(fresh);
  assert.equal(first.out.completion.outcome, 'test-accepted');
  assert.equal(first.out.completion.signatures.length, 1);
  // Same signature, new Message-ID (as a replay from a list archive would be).
  const replay = Buffer.from(fresh.toString().replace(/Message-ID: <[^>]+>/, 'Message-ID: <replayed@example.org>'));
  const second = await run(replay);
  assert.equal(second.out.completion.outcome, 'refused:replay');
  assert.match((await replyText(second.replies[0].raw)).text, /already used/);
});

test('a signed state-changing command without the To: line is refused before any signature policy, and its signature is not used up', async () => {
  const { run } = setup([alice], { 'SUBMIT KEY': async () => ({ status: 'accepted', body: 'ok', outcome: 'test-accepted' }) });
  const r = await run(await signedMail(alice, 'SUBMIT KEY\n\nmy key\n'));
  assert.equal(r.out.completion.outcome, 'refused:unbound');
  assert.deepEqual(r.out.completion.signatures, []);
  const { text } = await replyText(r.replies[0].raw);
  assert.match(text, /^Status: error/);
  assert.match(text, /Rule: command not addressed to this bot/);
  assert.match(text, new RegExp(`^  To: ${BOT}$`, 'm'));
  // Read-only commands need no binding (REVOKE KEY neither: commands-keys.test.ts sends it without one).
  assert.equal((await run(await signedMail(alice, 'HELP\n'))).out.completion.outcome, 'help');
});

test('the same Message-ID delivered twice is answered once', async () => {
  const { run } = setup();
  const raw = plain({ 'Message-ID': '<dup@example.org>' }, 'HELP\n');
  const a = await run(raw);
  const b = await run(raw);
  assert.equal(a.res.applied, true);
  assert.equal(b.res.applied, false);
  assert.equal(b.res.reason, 'duplicate-message');
  assert.equal(b.res.outboxIds.length, 0);
});

test('robots, bounces, the bot itself and list traffic without a command are never answered', async () => {
  const { run } = setup();
  const cases: [Record<string, string>, string, string][] = [
    [{ 'Auto-Submitted': 'auto-replied' }, 'HELP', 'ignored:auto-submitted'],
    [{ 'Return-Path': '<>' }, 'HELP', 'ignored:null-sender'],
    [{ From: 'MAILER-DAEMON@example.org' }, 'HELP', 'ignored:robot-sender'],
    [{ From: 'linux-390-owner@example.org' }, 'HELP', 'ignored:robot-sender'],
    [{ From: BOT }, 'HELP', 'ignored:own-mail'],
    [{ 'X-Ztrust-Loop': BOT }, 'HELP', 'ignored:loop-header'],
    [{ 'Content-Type': 'multipart/report; report-type=delivery-status; boundary=x' }, '--x\r\n\r\nHELP\r\n--x--', 'ignored:delivery-report'],
    [{ 'List-Id': 'LINUX-390 <linux-390.example.org>' }, 'just chatting', 'ignored:list-no-command'],
    [{ Precedence: 'bulk' }, 'newsletter', 'ignored:list-no-command'],
  ];
  for (const [h, body, outcome] of cases) {
    const r = await run(plain(h, body));
    assert.equal(r.out.completion.outcome, outcome, JSON.stringify(h));
    assert.equal(r.replies.length, 0, JSON.stringify(h));
  }
  // List traffic WITH a command is answered, to the sender, never to the list.
  const r = await run(plain({ 'List-Id': '<linux-390.example.org>', 'Reply-To': 'linux-390@example.org', From: 'frank@example.org' }, 'HELP'));
  assert.deepEqual(r.replies[0].recipients, ['frank@example.org']);
});

test('direct mail without a command gets a short explanation', async () => {
  const { run } = setup();
  const r = await run(plain({}, 'Hi, how does this work?\n'));
  assert.equal(r.out.completion.outcome, 'no-command');
  assert.match((await replyText(r.replies[0].raw)).text, /No command was found/);
});

test('an oversized message gets a "too large" reply without being parsed; garbage never crashes', async () => {
  const { run } = setup();
  const big = plain({}, `HELP\n${'x'.repeat(30000)}`);
  const r = await run(big);
  assert.equal(r.out.completion.outcome, 'too-large');
  assert.match((await replyText(r.replies[0].raw)).text, /at most\s+20000\s+bytes/);
  for (const junk of [Buffer.alloc(0), Buffer.from([0, 255, 1, 2, 3]), Buffer.from('From: \r\n\r\n'), Buffer.from('Content-Type: multipart/signed; boundary=\r\n\r\n--\r\n')]) {
    const j = await run(junk);
    assert.ok(j.out.completion.outcome.length > 0);
  }
});

test('replies per sender are rate-limited', async () => {
  const { run } = setup();
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) outcomes.push((await run(plain({ From: 'flood@example.org' }, 'HELP'))).out.completion.outcome);
  assert.deepEqual(outcomes, ['help', 'help', 'help', 'rate-limited:HELP', 'rate-limited:HELP'], 'over the budget a read-only command is not even run');
});

test('a command signed inside a forwarded message does not count as the sender\'s', async () => {
  const { run } = setup();
  const inner = await signedMail(alice, `SUBMIT KEY\nTo: ${BOT}\n`);
  const outer = Buffer.concat([Buffer.from(`From: mallory@example.org\r\nTo: ${BOT}\r\nSubject: fwd\r\nMessage-ID: <fwd${Date.now()}@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n`), inner, Buffer.from('\r\n--b--\r\n')]);
  const r = await run(outer);
  assert.notEqual(r.out.completion.outcome, 'not-available', 'must not be treated as a signed SUBMIT KEY from the sender');
});

test('maildir-style LF line endings verify the same as CRLF', async () => {
  const { run } = setup();
  const raw = await signedMail(alice, 'HELP\n');
  const r = await run(Buffer.from(raw.toString().replace(/\r\n/g, '\n')));
  assert.equal(r.out.completion.verdict, 'good');
});


// The regexes the line scanners replaced (quadratic on hostile input, see
// test/security/quadratic-armour.test.ts): the oracles of what the scanners
// must return, on small inputs.
function untrustedTextByRegex(text: string): string {
  const m = /-----BEGIN PGP SIGNED MESSAGE-----\r?\n(?:[A-Za-z]+: [^\n]*\r?\n)*\r?\n([\s\S]*?)\r?\n-----BEGIN PGP SIGNATURE-----/.exec(text);
  return m ? m[1].replace(/^- /gm, '') : text;
}
function shapeProseByRegex(prose: string): string {
  const text = prose.replace(/\r\n?/g, '\n');
  const parts: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/^-----BEGIN ([A-Z0-9 ]{1,40})-----$[\s\S]*?^-----END \1-----$/gm)) {
    parts.push(reflow(text.slice(last, m.index)), m[0]);
    last = m.index + m[0].length;
  }
  parts.push(reflow(text.slice(last)));
  return parts.join('');
}
const linesOf = (pieces: string[]) => fc.tuple(fc.array(fc.constantFrom(...pieces), { maxLength: 14 }), fc.constantFrom('\n', '\r\n'))
  .map(([ls, eol]) => ls.join(eol));

test('untrustedText (a line scan) returns what the old regex returned', () => {
  fc.assert(fc.property(linesOf([
    '-----BEGIN PGP SIGNED MESSAGE-----', 'quoted -----BEGIN PGP SIGNED MESSAGE-----', '-----BEGIN PGP SIGNATURE-----',
    '-----BEGIN PGP SIGNATURE----- x', 'Hash: SHA256', 'Hash:x', '', '\r', '- APPROVE ZT-000001', '- - x', 'HELP', 'text: here',
  ]), (t) => assert.equal(untrustedText(t), untrustedTextByRegex(t))), { numRuns: 5000 });
});

test('shapeProse (a line scan) returns what the old regex returned', () => {
  fc.assert(fc.property(linesOf([
    '-----BEGIN A-----', '-----END A-----', '-----BEGIN PGP PUBLIC KEY BLOCK-----', '-----END PGP PUBLIC KEY BLOCK-----',
    '-----BEGIN a-----', '-----END B-----', '-----BEGIN -----', '', 'some prose that is long enough to be wrapped by reflow at the seventy-second column',
    'short', ' indented', '-----BEGIN A----- trailing',
  ]), (t) => assert.equal(shapeProse(t), shapeProseByRegex(t))), { numRuns: 5000 });
});

test('a Message-ID alone never makes a duplicate: an unsigned mail with the ID of a coming request does not pre-empt it', async () => {
  const { run } = setup();
  const first = await run(plain({ 'Message-ID': '<coming@example.org>', From: 'mallory@example.org' }, 'HELP\n'));
  assert.equal(first.res.applied, true);
  const real = await run(await signedMail(alice, 'HELP\n', 'pgpmime', new Date(), {}).then((b) => Buffer.from(b.toString().replace(/Message-ID: <[^>]+>/, 'Message-ID: <coming@example.org>'))));
  assert.equal(real.res.applied, true);
  assert.equal(real.out.completion.outcome, 'help');
  assert.equal(real.replies.length, 1);
});

test('oversize mail: robots are not answered, and the answer to a person is rate-limited like any reply', async () => {
  const { run } = setup();
  const robot = await run(plain({ From: 'MAILER-DAEMON@example.org' }, 'x'.repeat(30000)));
  assert.equal(robot.out.completion.outcome, 'ignored:robot-sender');
  assert.equal(robot.replies.length, 0);
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) outcomes.push((await run(plain({ From: 'big@example.org' }, 'x'.repeat(30000)))).out.completion.outcome);
  assert.deepEqual(outcomes, ['too-large', 'too-large', 'too-large', 'rate-limited:too-large', 'rate-limited:too-large']);
});

test('a reply budget spent while a message was processed drops its reply in the store transaction', async () => {
  const { store } = setup();
  // Four messages decided before any of them was recorded (inbound concurrency).
  const d = new Dispatcher({ config: cfg, store, signer: bot, keyring: Keyring.fromKeys([alice.toPublic()]), policy: cryptoPolicyOf(cfg), logger: silentLogger }, defaultHandlers());
  const rows: SpoolRow[] = [];
  for (let i = 0; i < 4; i++) {
    const row: SpoolRow = { key: spoolKey('race', 1, i), mailbox: 'race', uidValidity: 1, uid: String(i), messageId: null,
      raw: plain({ From: 'race@example.org' }, 'HELP\n'), receivedAt: new Date().toISOString(), state: 'queued', outcome: null };
    await store.spool(row);
    rows.push(row);
  }
  const decided = await Promise.all(rows.map((r) => d.processMessage(r)));
  assert.deepEqual(decided.map((o) => o.completion.outcome), ['help', 'help', 'help', 'help'], 'each saw an unspent budget');
  const results = [];
  for (const o of decided) results.push(await store.complete(o.completion));
  assert.deepEqual(results.map((r) => r.outboxIds.length), [1, 1, 1, 0]);
  assert.equal(results[3].rateLimited, 'sender');
  assert.equal((await store.getSpooled(rows[3].key))?.outcome, 'rate-limited:help');
});
