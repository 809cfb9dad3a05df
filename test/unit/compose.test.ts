/** The bot's outgoing mail, byte for byte, checked with GnuPG as a reader would. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { composeSigned, replySubject, threadReferences, type OutgoingMail } from '../../src/mail/compose.js';
import { reflow, sanitizeHeaderText } from '../../src/mail/text.js';
import { signerFromKey, type BotSigner } from '../../src/pgp/botkey.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { assertBotMail, headerValues, readManyWithPython, readWithPython, type PythonReading } from '../harness/mailcheck.js';
import { TO_BOT, community, newcomer, type World } from './commands-world.js';
import { silentLogger } from '../../src/logger.js';
import { expireTickets } from '../../src/tickets/sweep.js';

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
  for (const line of out.split('\n')) assert.ok(line.length <= 72 || /^( {2}GET KEY|-----)/.test(line), line);
  assert.match(out, /^ {2}GET KEY A{40}$/m);
  assert.doesNotMatch(out, /\t/);
});

test('reflow wraps an over-long indented line with a hanging indent, keeping tokens whole', () => {
  const line = `  new key ${'A'.repeat(40)} (Erin Newcomer <erin@demo.example>)`;
  const out = reflow(line).split('\n');
  assert.equal(out.length, 2);
  assert.ok(out.every((l) => l.length <= 72), out.join('|'));
  assert.match(out[0], /^ {2}new key A{40} \(Erin/);
  assert.match(out[1], /^ {4}\S/, 'continuation has a hanging indent');
  assert.equal(out.map((l) => l.trim()).join(' '), line.trim());
  assert.equal(reflow(`  ${'B'.repeat(90)}`), `  ${'B'.repeat(90)}`, 'a single long token is never split');
});

// --- Headers as every reader sees them (issue 8 items 2 and 7) ----------------
// Python's email package (policy=default) is the independent reader: a header
// line that neither starts with whitespace nor is a field ends the header
// section for it, as for Postfix and mutt.

/** The header names a reply carries, in order; anything else is an injected header. */
const REPLY_HEADERS = ['From', 'To', 'Subject', 'Date', 'Message-ID', 'In-Reply-To', 'References', 'MIME-Version',
  'Auto-Submitted', 'X-Ztrust-Loop', 'X-Ztrust-Status', 'Content-Type'];

/** Header lines of the raw mail (up to the blank line), unfolding nothing. */
const headLines = (raw: Buffer): string[] => raw.toString('latin1').split('\r\n\r\n')[0].split('\r\n');

test('a long ASCII Subject folds at whitespace with the continuation indented; Python sees multipart/signed, no defects', async () => {
  const subject = `Re: ${'a fairly ordinary request about the key of somebody with a long name '.repeat(3).trim()}`;
  for (const signing of ['pgpmime', 'inline'] as const) {
    const raw = await composeSigned(base({ subject, signing }), bot);
    const r = await assertBotMail(raw, bot.publicArmored, { signing, status: 'found' });
    assert.deepEqual(headerValues(r, 'Subject'), [subject]);
    assert.deepEqual(r.headers.map(([n]) => n), signing === 'pgpmime' ? REPLY_HEADERS : [...REPLY_HEADERS, 'Content-Transfer-Encoding']);
    for (const line of headLines(raw)) assert.ok(line.length <= 78, `header line over 78: ${line}`);
  }
});

test('non-ASCII Subjects and display names are RFC 2047 encoded words of at most 75 characters, folded between words', async () => {
  const subjects = [
    'Re: Schlüssel für Jürgen Groß', `Re: ${'Größenänderung '.repeat(12).trim()}`, `Re: ${'鍵の署名をお願いします'.repeat(8)}`,
    `Re: ${'🔑🗝️👩‍💻 '.repeat(15).trim()}`, 'Re: =?UTF-8?Q?looks_encoded?= but is not', `Re: ${'x'.repeat(150)} long word`,
    'Re: 𠀀𠀁 astral CJK and a lone half \ud800 surrogate',
  ];
  for (const subject of subjects) {
    const raw = await composeSigned(base({ subject, from: { name: 'Zoë Bot, the "trust" anchör', address: 'bot@example.org' } }), bot);
    const r = await assertBotMail(raw, bot.publicArmored);
    assert.deepEqual(headerValues(r, 'Subject'), [sanitizeHeaderText(subject, 300)], subject);
    assert.deepEqual(headerValues(r, 'From'), ['"Zoë Bot, the \\"trust\\" anchör" <bot@example.org>']);
    for (const line of headLines(raw)) {
      assert.ok(line.length <= 78, `header line over 78: ${line}`);
      for (const w of line.match(/=\?[^?]*\?[QB]\?[^?]*\?=/gi) ?? []) assert.ok(w.length <= 75, `encoded word over 75: ${w}`);
    }
  }
});

test('CR, LF, NUL and other control characters in a Subject or a display name cannot add a header', async () => {
  const raw = await composeSigned(base({
    subject: 'Re: hi\r\nReply-To: attacker@evil.example\r\n\r\nBcc: victim@example.org\u0000\u0085\u2028x',
    from: { name: 'Bot\r\nReply-To: attacker@evil.example', address: 'bot@example.org' },
  }), bot);
  const r = await assertBotMail(raw, bot.publicArmored);
  assert.deepEqual(r.headers.map(([n]) => n), REPLY_HEADERS);
  assert.deepEqual(headerValues(r, 'Subject'), ['Re: hi Reply-To: attacker@evil.example Bcc: victim@example.org x']);
});

test('addresses from user ids and parsed mail: IDN domains in ASCII form, odd local parts quoted, unwritable ones left out of To', async () => {
  const to = ['ops@exämple.org', 'jürgen@example.org', 'a b"c@example.org', 'x\r\nBcc: victim@example.org@example.org', `${'l'.repeat(300)}@example.org`];
  const raw = await composeSigned(base({ to }), bot);
  const r = await assertBotMail(raw, bot.publicArmored);
  assert.deepEqual(r.headers.map(([n]) => n), REPLY_HEADERS);
  assert.deepEqual(headerValues(r, 'To'), ['ops@xn--exmple-cua.org, "a b\\"c"@example.org, "xBcc: victim@example.org"@example.org']);
  const none = await assertBotMail(await composeSigned(base({ to: ['jörg@example.org'] }), bot), bot.publicArmored);
  assert.deepEqual(headerValues(none, 'To'), ['undisclosed-recipients:;']);
});

test('domains that are not host names are left out of To, not mapped to something else by IDNA (fuzz seed -1197678180)', async () => {
  // domainToASCII turned ".?Dw7%o AW:   ; ..." into ".", which Python reads as three defects.
  const bad = ['_   @.?Dw7%o AW:   ; ݝיּ', 'a@.', 'a@example..org', 'a@-example.org', 'a@example-.org', 'a@exa mple.org', 'a@example.org;', 'a@[127.0.0.1]', `a@${'l'.repeat(64)}.org`];
  for (const to of bad) {
    const r = await assertBotMail(await composeSigned(base({ to: [to] }), bot), bot.publicArmored);
    assert.deepEqual(headerValues(r, 'To'), ['undisclosed-recipients:;'], to);
  }
  const r = await assertBotMail(await composeSigned(base({ to: ['a@x.example.org', `b@${'l'.repeat(63)}.org`] }), bot), bot.publicArmored);
  assert.deepEqual(headerValues(r, 'To'), [`a@x.example.org, b@${'l'.repeat(63)}.org`]);
});

test('headers the bot defines (List-Unsubscribe, the loop header) are never turned into encoded words, however long', async () => {
  const unsub = '<mailto:a-rather-long-bot-address@lists.example.org?subject=UNSUBSCRIBE&body=UNSUBSCRIBE>';
  const raw = await composeSigned(base({ headers: { 'List-Unsubscribe': unsub }, loopHeader: { name: 'X-Ztrust-Loop', value: 'a-rather-long-bot-address@lists.example.org' } }), bot);
  const r = await assertBotMail(raw, bot.publicArmored);
  assert.deepEqual(headerValues(r, 'List-Unsubscribe'), [unsub]);
  assert.doesNotMatch(raw.toString('latin1').split('\r\n\r\n')[0], /=\?UTF-8\?/);
});

test('header injection: "Reply-To: attacker@..." placed at every fold column of a Subject stays inside the Subject', async () => {
  // Whatever column the folder breaks at, the attacker's text must stay in
  // the Subject; the old flowed-text folding made it a real header here.
  const subjects = Array.from({ length: 41 }, (_, i) => `Re: ${'x'.repeat(40 + i)} Reply-To: attacker@evil.example`);
  const readings = await readManyWithPython(await Promise.all(subjects.map((subject) => composeSigned(base({ subject }), bot))));
  readings.forEach((r, i) => {
    assert.deepEqual(headerValues(r, 'Reply-To'), [], `${subjects[i]}: an injected Reply-To`);
    assert.deepEqual(r.defects, [], subjects[i]);
    assert.deepEqual(r.headers.map(([n]) => n), REPLY_HEADERS, subjects[i]);
    assert.deepEqual(headerValues(r, 'Subject'), [subjects[i]]);
    assert.equal(r.contentType, 'multipart/signed');
  });
});

describe('through the dispatcher: every mail it sends reads cleanly in Python', () => {
  const botMails = async (w: World, rows: { raw: Buffer }[]): Promise<PythonReading[]> =>
    Promise.all(rows.map((row) => assertBotMail(row.raw, w.bot.publicArmored)));

  test('a user id at the fold column of the maintainer notices gives no Reply-To; so does a long request Subject', async () => {
    const { w, alice, bob } = await community();
    // "ZT-000001 awaits your approval: new key 0x<16 hex> " puts the user id at
    // column 68 of the Subject line; "Re " pushes "Reply-To:" across column 76.
    const mallory = await newcomer('Re Reply-To: attacker@evil.example', 'mallory@people.test', [alice, bob]);
    const s = await w.send(await w.mail(mallory, `SUBMIT KEY\n${TO_BOT}\n\n${mallory.certified.armor()}\n`, { from: 'Mallory <mallory@people.test>' }));
    assert.equal(s.outcome, 'SUBMIT KEY:pending:ZT-000001');
    assert.equal(s.replies.length, 4, 'the reply and three maintainer notices');
    for (const x of s.replies) assert.deepEqual(headerValues(await readWithPython(x.row.raw), 'Reply-To'), [], `${x.row.id}: an injected Reply-To`);
    for (const r of await botMails(w, s.replies.map((x) => x.row))) {
      assert.deepEqual(headerValues(r, 'Reply-To'), []);
      assert.equal(r.contentType, 'multipart/signed');
    }
    const notice = s.replies[1];
    assert.match(notice.subject, /^ZT-000001 awaits your approval: new key 0x[0-9A-F]{16} Re Reply-To: attacker@evil\.example <mallory@people\.test>$/i);

    const subject = `${'x'.repeat(56)} Reply-To: attacker@evil.example`;
    const h = await w.send(await w.mail(null, 'HELP\n', { subject }));
    const [reading] = await botMails(w, h.replies.map((x) => x.row));
    assert.deepEqual(headerValues(reading, 'Reply-To'), []);
    assert.deepEqual(headerValues(reading, 'Subject'), [`Re: ${subject}`]);

    // The expiry notice names the same user id in its Subject.
    const ids = await expireTickets({ config: w.cfg, store: w.store, signer: w.bot, logger: silentLogger }, new Date(Date.now() + 365 * 86_400_000));
    assert.equal(ids.length, 1);
    const expired = await assertBotMail((await w.store.getOutbox(ids[0]))!.raw, w.bot.publicArmored, { status: 'rejected' });
    assert.deepEqual(headerValues(expired, 'Reply-To'), []);
    assert.match(headerValues(expired, 'Subject')[0], /^ZT-000001 expired: new key [0-9A-F]{40} \(Re Reply-To: attacker@evil\.example <mallory@people\.test>\)$/);
  });

  test('long and non-ASCII user ids and Subjects: notices, replies and the applied notice', async () => {
    const { w, alice, bob } = await community();
    const zoe = await newcomer(`Zoë Ærøskøbing-Ñúñez 鍵 🔑 ${'Longname '.repeat(10).trim()}`, 'zoe@people.test', [alice, bob]);
    const s = await w.send(await w.mail(zoe, `SUBMIT KEY\n${TO_BOT}\n\n${zoe.certified.armor()}\n`, {
      from: 'Zoe <zoe@people.test>', subject: `=?UTF-8?B?${Buffer.from(`Schlüssel für Zoë: ${'bitte aufnehmen '.repeat(8)}🔑`).toString('base64')}?=`,
    }));
    assert.equal(s.outcome, 'SUBMIT KEY:pending:ZT-000001');
    const readings = await botMails(w, s.replies.map((x) => x.row));
    assert.equal(headerValues(readings[0], 'Subject')[0], `Re: Schlüssel für Zoë: ${'bitte aufnehmen '.repeat(8)}🔑`);
    const t = (await w.store.getTicket('ZT-000001'))!;
    for (const m of [alice, bob]) {
      const v = await w.send(await w.mail(m, `APPROVE ZT-000001\n${t.digest}\n${TO_BOT}\n`, { subject: 'Ré: approve' }));
      await botMails(w, v.replies.map((x) => x.row));
    }
    const { notices } = await w.applyAll();
    assert.ok(notices.length >= 1, 'the applied notice');
    for (const r of await botMails(w, notices.map((n) => n.row))) assert.match(headerValues(r, 'Subject')[0], /^Applied: new key /);
  });
});

test('an attached key is signed with the text in PGP/MIME (multipart/mixed inside multipart/signed); inline mail leaves it out; odd names and bytes are refused', async () => {
  const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Upstream', email: 'rel@up.example' }], format: 'armored' });
  const attachments = [{ filename: '0x1234567890abcdef.asc', contentType: 'application/pgp-keys' as const, content: publicKey }];
  const raw = await composeSigned(base({ attachments }), bot);
  const r = await assertBotMail(raw, bot.publicArmored, { signing: 'pgpmime', status: 'found' });
  assert.deepEqual(r.parts.map((p) => p.contentType), ['multipart/signed', 'multipart/mixed', 'text/plain', 'application/pgp-keys', 'application/pgp-signature']);
  const v = await gpg.verifyMail(raw);
  assert.equal(v.ok, true, v.status);
  const parsed = await simpleParser(raw);
  const key = parsed.attachments.find((a) => a.contentType === 'application/pgp-keys');
  assert.equal(key?.filename, '0x1234567890abcdef.asc');
  assert.equal(key?.content.toString('utf8').replace(/\r\n/g, '\n'), publicKey.endsWith('\n') ? publicKey : `${publicKey}\n`);
  // A changed byte in the attachment breaks the signature: it is inside the signed part.
  const tampered = Buffer.from(raw.toString('latin1').replace(/(mQ|xj)(.)/, (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`), 'latin1');
  assert.equal((await gpg.verifyMail(tampered)).ok, false);

  const inline = await composeSigned(base({ signing: 'inline', attachments }), bot);
  assert.doesNotMatch(inline.toString('latin1'), /application\/pgp-keys/);
  assert.equal((await gpg.verifyMail(inline)).ok, true);

  for (const bad of [{ ...attachments[0], filename: '../x.asc' }, { ...attachments[0], filename: 'a"b.asc' }, { ...attachments[0], content: 'caf\u00e9' },
    { ...attachments[0], contentType: 'text/html' as unknown as 'application/pgp-keys' }]) {
    await assert.rejects(composeSigned(base({ attachments: [bad] }), bot), /attachment/);
  }
});
