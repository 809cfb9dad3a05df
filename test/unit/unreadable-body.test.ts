/**
 * Mail whose body mailparser cannot read, through the dispatcher: it reads
 * a message's header section first and the whole message only when
 * something needs the body (src/commands/dispatch.ts).
 *
 * - mailparser never finishes some broken structures (an empty
 *   message/rfc822 part): its reading has a deadline (MESSAGE_BOUNDS.parseMs),
 *   and the message is answered "malformed" instead of holding a worker
 *   slot, or a `run --once`, for ever.
 * - A signed request in a list's wrapper whose footer mailparser gives up
 *   on (over a thousand parts) runs its command: the command comes from the
 *   signed part, which verifyMail reads itself; the same request unsigned,
 *   or a REVOKE KEY (which reads the attachments), is "malformed".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { community, TO_BOT } from './commands-world.js';
import { splitMail } from '../security/world.js';
import { simpleParser } from '../../src/mail/parser.js';
import { LimitError, MESSAGE_BOUNDS } from '../../src/limits.js';

const CRLF = '\r\n';
/** mailparser waits for ever on this: a multipart whose only part is an empty message/rfc822. */
const NEVER_ENDS = Buffer.from([
  'From: Anne <anne@people.test>', 'To: bot@ztrust.test', 'Subject: x', `Message-ID: <${randomUUID()}@people.test>`, 'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary=q', '', '--q', 'Content-Type: message/rfc822', 'Content-Disposition: inline', '', '--q--', '',
].join(CRLF), 'latin1');

test('mailparser that never finishes is cut at the deadline with LIMIT_PARSE_TIME; ordinary mail is read', async () => {
  const t0 = Date.now();
  await assert.rejects(simpleParser(NEVER_ENDS, {}, 300), (err: unknown) => err instanceof LimitError && err.code === 'LIMIT_PARSE_TIME');
  assert.ok(Date.now() - t0 < 5_000);
  const ok = await simpleParser(Buffer.from(`Subject: fine${CRLF}${CRLF}HELP${CRLF}`), {}, 300);
  assert.equal(ok.subject, 'fine');
});

test('an unsigned HELP that mailparser never finishes reading is answered "malformed" within the deadline', { timeout: MESSAGE_BOUNDS.parseMs + 20_000 }, async () => {
  const { w } = await community();
  const t0 = Date.now();
  const s = await w.send(NEVER_ENDS);
  assert.ok(Date.now() - t0 < MESSAGE_BOUNDS.parseMs + 5_000, `took ${Date.now() - t0} ms`);
  assert.equal(s.outcome, 'malformed');
  assert.equal(s.replies.length, 1);
  assert.match(s.replies[0].text, /could not be read as an Internet message/);
  assert.match(s.replies[0].text, /MIME structure could not be parsed/);
});

/** `inner` (a signed or unsigned request) as the first part of a list's multipart/mixed, with a footer mailparser gives up on. */
function wrapWithUnreadableFooter(inner: Buffer, list: boolean): Buffer {
  // Over mailparser's 1,000 child nodes, under a Content-Type the bot's own MIME reader takes as one text part.
  const footer = `Content-Type: multipart/mixed x; boundary="f"${CRLF}${CRLF}${`--f${CRLF}${CRLF}x${CRLF}`.repeat(1001)}--f--`;
  const { head, body } = splitMail(inner);
  const lines = head.split(CRLF);
  const ct = lines.filter((l) => /^Content-Type:/i.test(l)).join(CRLF);
  const top = lines.filter((l) => !/^Content-Type:/i.test(l));
  return Buffer.from([...top, ...(list ? ['List-Id: <people.lists.test>'] : []), 'Content-Type: multipart/mixed; boundary="L"', '',
    '--L', `${ct}${CRLF}${CRLF}${body.replace(/\r\n$/, '')}`, '--L', footer, '--L--', ''].join(CRLF), 'latin1');
}

test('a signed HELP whose list footer mailparser cannot read is answered from the signed part; unsigned, or REVOKE KEY, it is "malformed"', async () => {
  const { w, alice } = await community();
  const signed = await w.send(wrapWithUnreadableFooter(await w.mail(alice, 'HELP\n'), false));
  assert.equal(signed.outcome, 'help');
  assert.equal(signed.replies.length, 1);
  assert.match(signed.replies[0].text, new RegExp(alice.fpr));

  const unsigned = await w.send(wrapWithUnreadableFooter(await w.mail(null, 'HELP\n'), false));
  assert.equal(unsigned.outcome, 'malformed');
  const revoke = await w.send(wrapWithUnreadableFooter(await w.mail(alice, `REVOKE KEY\n${TO_BOT}\n`), false));
  assert.equal(revoke.outcome, 'malformed', 'REVOKE KEY reads the attachments, so the body must be readable');
  // Through a list, a request whose body is unreadable and carries no signed command is list traffic: not answered.
  const listed = await w.send(wrapWithUnreadableFooter(await w.mail(null, 'HELP\n'), true));
  assert.equal(listed.outcome, 'ignored:list-malformed');
  assert.equal(listed.replies.length, 0);
});
