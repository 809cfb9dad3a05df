/** The bot's outgoing mail, byte for byte, checked with GnuPG as a reader would. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { composeSigned, replySubject, threadReferences, type OutgoingMail } from '../../src/mail/compose.js';
import { reflow } from '../../src/mail/text.js';
import { signerFromKey, type BotSigner } from '../../src/pgp/botkey.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

let gpg: GpgHome;
let bot: BotSigner;
before(async () => {
  gpg = await makeGpgHome();
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'ztrust-bot', email: 'bot@example.org' }], format: 'object' });
  bot = signerFromKey(privateKey);
  await gpg.importKeys(bot.publicArmored);
});
after(async () => { await gpg?.cleanup(); });

const base = (over: Partial<OutgoingMail>): OutgoingMail => ({
  from: { name: 'ztrust-bot', address: 'bot@example.org' }, to: ['a@example.org'], subject: 'Re: test', messageId: '<m@example.org>',
  date: new Date('2026-11-22T10:00:00Z'), inReplyTo: '<p@example.org>', references: ['<p@example.org>'], autoSubmitted: 'auto-replied',
  loopHeader: { name: 'X-Ztrust-Loop', value: 'bot@example.org' }, status: 'found', body: 'Status: found\n\nHello.\n', signing: 'pgpmime', ...over,
});

test('PGP/MIME and inline replies of plain ASCII are us-ascii 7bit and verify with gpg', async () => {
  for (const signing of ['pgpmime', 'inline'] as const) {
    const raw = await composeSigned(base({ signing, body: 'Status: found\n\nA line.\n-- \nnot a sig sep for us\n- dash\n' }), bot);
    const text = raw.toString('latin1');
    assert.match(text, /charset=us-ascii/);
    assert.match(text, /Content-Transfer-Encoding: 7bit/);
    assert.doesNotMatch(text, /[^\r]\n/, 'CRLF line ends only');
    const v = await gpg.verifyMail(raw);
    assert.equal(v.ok, true, `${signing}: ${v.status}`);
    assert.equal(v.kind, signing);
    assert.equal(v.signer, bot.fingerprint);
  }
});

test('non-ASCII text and "From " lines are quoted-printable inside the signed part, and still verify', async () => {
  const raw = await composeSigned(base({ body: 'Status: found\n\nGrüße aus Böblingen\nFrom here on\n' }), bot);
  const text = raw.toString('latin1');
  assert.match(text, /charset=utf-8/);
  assert.match(text, /quoted-printable/);
  assert.match(text, /^=46rom here on/m);
  assert.equal((await gpg.verifyMail(raw)).ok, true);
  const parsed = await simpleParser(raw);
  assert.match(parsed.text ?? '', /Grüße aus Böblingen\nFrom here on/);
});

test('headers: threading, RFC 3834, loop header, status, encoded subject, no header injection', async () => {
  const raw = await composeSigned(base({ subject: 'Re: Grüße\r\nBcc: victim@example.org', headers: { 'List-Unsubscribe': '<mailto:bot@example.org?subject=UNSUBSCRIBE>' } }), bot);
  const p = await simpleParser(raw);
  assert.equal(p.headers.get('auto-submitted'), 'auto-replied');
  assert.equal(p.headers.get('x-ztrust-loop'), 'bot@example.org');
  assert.equal(p.headers.get('x-ztrust-status'), 'found');
  assert.equal(p.inReplyTo, '<p@example.org>');
  assert.equal(p.bcc, undefined, 'a CR/LF in the subject cannot add a header');
  assert.match(p.subject ?? '', /^Re: Grüße Bcc: victim@example.org$/);
  assert.ok(p.headerLines.some((l) => l.key === 'list-unsubscribe'));
});

test('subject and threading helpers', () => {
  assert.equal(replySubject('Re: RE: Aw: [LINUX-390] key'), 'Re: [LINUX-390] key');
  assert.equal(replySubject(''), 'Re: your message to ztrust-bot');
  assert.deepEqual(threadReferences('<c>', ['<a>', '<b>']), ['<a>', '<b>', '<c>']);
  assert.deepEqual(threadReferences('<c>', undefined, '<b>'), ['<b>', '<c>']);
  assert.deepEqual(threadReferences(null, ['<a>']), []);
});

test('reflow keeps every line within 72 columns and leaves preformatted lines alone', () => {
  const long = 'word '.repeat(60);
  const out = reflow(`${long}\n\n  GET KEY ${'A'.repeat(40)}\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n- a bullet ${long}\n\tTabbed`);
  for (const line of out.split('\n')) assert.ok(line.length <= 72 || /^(  GET KEY|-----)/.test(line), line);
  assert.match(out, /^  GET KEY A{40}$/m);
  assert.doesNotMatch(out, /\t/);
});

test('reflow wraps an over-long indented line with a hanging indent, keeping tokens whole', () => {
  const line = `  new key ${'A'.repeat(40)} (Erin Newcomer <erin@demo.example>)`;
  const out = reflow(line).split('\n');
  assert.equal(out.length, 2);
  assert.ok(out.every((l) => l.length <= 72), out.join('|'));
  assert.match(out[0]!, /^  new key A{40} \(Erin/);
  assert.match(out[1]!, /^    \S/, 'continuation has a hanging indent');
  assert.equal(out.map((l) => l.trim()).join(' '), line.trim());
  assert.equal(reflow(`  ${'B'.repeat(90)}`), `  ${'B'.repeat(90)}`, 'a single long token is never split');
});
