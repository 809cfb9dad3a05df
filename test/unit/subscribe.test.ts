/**
 * SUBSCRIBE / UNSUBSCRIBE / CONFIRM through the real dispatcher and SQLite
 * store: raw mail in, the signed reply and the store transaction out.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { parseConfig, cryptoPolicyOf, type LoadedConfig } from '../../src/config/load.js';
import { Dispatcher } from '../../src/commands/dispatch.js';
import { defaultHandlers } from '../../src/commands/index.js';
import { signerFromKey, type BotSigner } from '../../src/pgp/botkey.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { StoreError } from '../../src/errors.js';
import { spoolKey } from '../../src/store/keys.js';
import { silentLogger } from '../../src/logger.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { normalizeToken, tokenHash, tokenRecord, TOKEN_TTL_HOURS, unsubscribeMailto } from '../../src/subscriptions/tokens.js';
import type { SpoolRow } from '../../src/store/types.js';
import { assertBotMail, headerValues } from '../harness/mailcheck.js';

const BOT = 'bot@example.org';
let bot: BotSigner;
let cfg: LoadedConfig;

before(async () => {
  const k = (await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'bot', email: BOT }], format: 'object' })).privateKey;
  bot = signerFromKey(k);
  cfg = parseConfig({ bot: { address: BOT }, mailbox: { url: 'maildir:in' }, outbox: { url: 'dir:out' } }, mkdtempSync(path.join(os.tmpdir(), 'zsub-')));
});

/** Every reply the tests below got, for the independent reader at the end. */
const sent: Buffer[] = [];

function setup() {
  const store = SqliteStore.open(':memory:');
  const d = new Dispatcher({ config: cfg, store, signer: bot, keyring: Keyring.fromKeys([]), policy: cryptoPolicyOf(cfg), logger: silentLogger }, defaultHandlers());
  let uid = 0;
  /** Spool and decide a message, without recording the outcome yet. */
  const decide = async (from: string, body: string, extra: Record<string, string> = {}) => {
    uid++;
    const head = { From: from, To: BOT, Subject: 'hello', 'Message-ID': `<s${uid}.${Date.now()}@example.org>`, ...extra };
    const raw = Buffer.from(`${Object.entries(head).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
    const row: SpoolRow = { key: spoolKey('t', 1, uid), mailbox: 't', uidValidity: 1, uid: String(uid), messageId: null, raw,
      receivedAt: new Date().toISOString(), state: 'queued', outcome: null };
    await store.spool(row);
    return d.processMessage(row);
  };
  const run = async (from: string, body: string, extra: Record<string, string> = {}) => {
    const out = await decide(from, body, extra);
    await store.complete(out.completion);
    const reply = out.completion.outbox[0];
    if (!reply) throw new Error(`no reply: ${out.completion.outcome} ${out.summary}`);
    sent.push(reply.raw);
    const parsed = await simpleParser(reply.raw);
    return { outcome: out.completion.outcome, reply, text: parsed.text ?? '', status: parsed.headers.get('x-ztrust-status') };
  };
  return { store, run, decide };
}

const tokenIn = (text: string): string => {
  const m = /^ {2}CONFIRM ([0-9a-f]{32})$/m.exec(text);
  assert.ok(m, `no CONFIRM line in:\n${text}`);
  return m[1];
};

test('tokens: 128 random bits in hex, stored only as a hash, 48 hours, pasted forms accepted', () => {
  const now = new Date('2025-03-01T10:00:00Z');
  const rec = tokenRecord('0123456789abcdef0123456789abcdef', 'Vera@Example.ORG', 'subscribe', now, null);
  assert.equal(rec.address, 'vera@example.org');
  assert.equal(rec.tokenHash, tokenHash('0123456789abcdef0123456789abcdef'));
  assert.notEqual(rec.tokenHash, '0123456789abcdef0123456789abcdef');
  assert.equal(Date.parse(rec.expiresAt) - now.getTime(), TOKEN_TTL_HOURS * 3600_000);
  assert.equal(normalizeToken('<0123456789ABCDEF0123456789ABCDEF>.'), '0123456789abcdef0123456789abcdef');
  for (const bad of [undefined, '', '0123', 'g'.repeat(32), '0123456789abcdef0123456789abcdef0']) assert.equal(normalizeToken(bad), null);
  assert.equal(unsubscribeMailto(BOT), '<mailto:bot@example.org?subject=UNSUBSCRIBE&body=UNSUBSCRIBE>');
});

test('SUBSCRIBE: the token goes to the From address only (never Reply-To); nothing changes until CONFIRM', async () => {
  const { store, run } = setup();
  const r = await run('Victim <victim@example.org>', 'subscribe\n', { 'Reply-To': 'mallory@evil.example' });
  assert.equal(r.outcome, 'subscribe:token-sent');
  assert.deepEqual(r.reply.recipients, ['victim@example.org']);
  assert.equal(r.status, 'pending');
  assert.match(r.text, /^Status: pending\n/);
  const token = tokenIn(r.text);
  for (const line of r.text.split('\n')) assert.ok(line.length <= 72 && /^[\x20-\x7e]*$/.test(line), line);
  const v = await verifyMail(r.reply.raw, Keyring.fromKeys([await openpgp.readKey({ armoredKey: bot.publicArmored })]));
  assert.equal(v.verdict, 'good');
  const row = await store.getSubscriptionToken(tokenHash(token));
  assert.equal(row?.address, 'victim@example.org');
  assert.equal(row?.action, 'subscribe');
  assert.equal(await store.getSubscriber('victim@example.org'), undefined);
  assert.deepEqual(await store.listSubscribers(), []);

  // Mallory cannot use a guessed token, nor the real one from her own address.
  const guess = await run('mallory@evil.example', `CONFIRM ${'0'.repeat(32)}\n`);
  assert.equal(guess.outcome, 'confirm:unknown');
  assert.match(guess.text, /^Status: error/);
  const stolen = await run('mallory@evil.example', `CONFIRM ${token}\n`);
  assert.equal(stolen.outcome, 'confirm:wrong-address');
  assert.doesNotMatch(stolen.text, /victim/, 'a refusal never names the address a token belongs to');
  assert.deepEqual(await store.listSubscribers(), []);

  // The command must be the first non-blank line: a quote above it means no command.
  const quotedFirst = await run('victim@example.org', `> Someone asked\nCONFIRM ${token}\n`);
  assert.equal(quotedFirst.outcome, 'no-command');
  assert.deepEqual(await store.listSubscribers(), []);
  // The owner confirms (quoting the bot's mail below the command is fine).
  const ok = await run('victim@example.org', `CONFIRM ${token.toUpperCase()}\n\n> Someone asked\n> old text\n`);
  assert.equal(ok.outcome, 'confirm:subscribe');
  assert.equal(ok.status, 'applied');
  assert.deepEqual((await store.listSubscribers()).map((s) => s.address), ['victim@example.org']);
  // Single use.
  const again = await run('victim@example.org', `CONFIRM ${token}\n`);
  assert.equal(again.outcome, 'confirm:used');
  const dup = await run('victim@example.org', 'SUBSCRIBE\n');
  assert.equal(dup.outcome, 'subscribe:already');
  assert.doesNotMatch(dup.text, /CONFIRM/);
});

test('a later forged SUBSCRIBE does not cancel an earlier real token; confirming one uses up the others', async () => {
  const { store, run } = setup();
  const real = tokenIn((await run('vera@example.org', 'SUBSCRIBE\n')).text);
  const forged = tokenIn((await run('vera@example.org', 'SUBSCRIBE\n')).text);
  assert.notEqual(real, forged);
  assert.equal((await run('vera@example.org', `CONFIRM ${real}\n`)).outcome, 'confirm:subscribe');
  assert.equal((await run('vera@example.org', `CONFIRM ${forged}\n`)).outcome, 'confirm:used');
  assert.equal((await store.listSubscribers()).length, 1);
});

test('UNSUBSCRIBE needs its own CONFIRM; not subscribed gets not-found and no token', async () => {
  const { store, run } = setup();
  const none = await run('someone@example.org', 'UNSUBSCRIBE\n');
  assert.equal(none.outcome, 'unsubscribe:not-subscribed');
  assert.equal(none.status, 'not-found');
  assert.doesNotMatch(none.text, /CONFIRM/);

  await run('vera@example.org', 'SUBSCRIBE\n').then((r) => run('vera@example.org', `CONFIRM ${tokenIn(r.text)}\n`));
  assert.equal((await store.listSubscribers()).length, 1);
  const forged = await run('vera@example.org', 'unsubscribe\n');
  assert.equal(forged.outcome, 'unsubscribe:token-sent');
  assert.deepEqual(forged.reply.recipients, ['vera@example.org']);
  assert.equal((await store.listSubscribers()).length, 1, 'an UNSUBSCRIBE alone changes nothing (it may be forged)');
  const done = await run('vera@example.org', `CONFIRM ${tokenIn(forged.text)}\n`);
  assert.equal(done.outcome, 'confirm:unsubscribe');
  assert.match(done.text, /no longer receives/);
  assert.deepEqual(await store.listSubscribers(), []);
});

test('an expired token is refused and changes nothing; a malformed CONFIRM says what a token looks like', async () => {
  const { store, run } = setup();
  const token = '00112233445566778899aabbccddeeff';
  const old = tokenRecord(token, 'late@example.org', 'subscribe', new Date(Date.now() - (TOKEN_TTL_HOURS + 1) * 3600_000), null);
  await store.commitEffects([{ kind: 'subscription-token', token: old }], []);
  const r = await run('late@example.org', `CONFIRM ${token}\n`);
  assert.equal(r.outcome, 'confirm:expired');
  assert.match(r.text, /expired/);
  assert.equal(await store.getSubscriber('late@example.org'), undefined);
  assert.equal((await store.getSubscriptionToken(tokenHash(token)))?.usedAt, null);
  const bad = await run('late@example.org', 'CONFIRM please\n');
  assert.equal(bad.outcome, 'confirm:malformed');
  assert.match(bad.text, /32 hexadecimal digits/);
});

test('two CONFIRMs of one token decided at once: the store lets only one win', async () => {
  const { store, run, decide } = setup();
  const token = tokenIn((await run('race@example.org', 'SUBSCRIBE\n')).text);
  const a = await decide('race@example.org', `CONFIRM ${token}\n`);
  const b = await decide('race@example.org', `CONFIRM ${token}\n`);
  assert.equal(a.completion.outcome, 'confirm:subscribe');
  assert.equal(b.completion.outcome, 'confirm:subscribe', 'both saw an unused token');
  await store.complete(a.completion);
  await assert.rejects(store.complete(b.completion), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CONFLICT');
  // The inbound worker retries the loser, which now sees the token used.
  const again = await decide('race@example.org', `CONFIRM ${token}\n`);
  assert.equal(again.completion.outcome, 'confirm:used');
  assert.equal((await store.listSubscribers()).length, 1);
});

// Issue 8, "What must be true" 3: every mail the bot sends, read by Python's
// email package and gpg, long and non-ASCII Subjects included.
test('a SUBSCRIBE with a long non-ASCII Subject gets a confirmation Python reads without a defect', async () => {
  const { run } = setup();
  const subject = `Abonnement für Jürgen Groß: ${'bitte den Digest schicken '.repeat(6)}🔑`;
  const r = await run('=?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>', 'SUBSCRIBE\n', { Subject: `=?UTF-8?B?${Buffer.from(subject).toString('base64')}?=` });
  assert.equal(r.outcome, 'subscribe:token-sent');
  const reading = await assertBotMail(r.reply.raw, bot.publicArmored, { status: 'pending' });
  assert.deepEqual(headerValues(reading, 'Subject'), [`Re: ${subject.replace(/\s+/g, ' ')}`]);
});

test('every reply of this file reads cleanly in Python and verifies with gpg', async () => {
  assert.ok(sent.length >= 10, `only ${sent.length} replies`);
  for (const raw of sent) await assertBotMail(raw, bot.publicArmored);
});
