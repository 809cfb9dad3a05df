/**
 * Attack: an oversize message used to be answered from a From: line read by
 * a regex, before the never-answer rules and the reply rate limit. A bounce
 * of the bot's own reply (too large itself) then got a reply, which bounced
 * again (a mail loop); a flood of oversize mail forged as From: a victim got
 * the victim one reply each. Now only a bounded header prefix is parsed, the
 * same classify() rules decide, and the reply goes through the same gate as
 * every other reply. The body is never parsed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { MAX_HEADER_SECTION_BYTES } from '../../src/limits.js';
import { community } from '../unit/commands-world.js';
import { botMail, deliver, snapshot } from './reply-gate.js';

const LIMIT = 20000;
const big = (headers: string[], body = `HELP\r\n${'x'.repeat(LIMIT)}\r\n`) =>
  Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'latin1');
const base = (from: string, id: string) => [`From: ${from}`, 'To: bot@ztrust.test', 'Subject: big', `Message-ID: <${id}@people.test>`];

test('oversize bounces, robots and loops get no reply; the body is never read', async () => {
  const { w } = await community({ config: { limits: { maxMessageBytes: LIMIT, maxRepliesPerSenderPerHour: 3 } } });
  const before = await snapshot(w);
  const cases: [string[], string][] = [
    [[...base('MAILER-DAEMON@people.test', 'b1'), 'Content-Type: multipart/report; report-type=delivery-status; boundary=x'], 'ignored:robot-sender'],
    [[...base('Mail Delivery <postmaster@people.test>', 'b2')], 'ignored:robot-sender'],
    [[...base('dave@people.test', 'b3'), 'Content-Type: multipart/report; report-type=delivery-status; boundary=x'], 'ignored:delivery-report'],
    [[...base('dave@people.test', 'b4'), 'Return-Path: <>'], 'ignored:null-sender'],
    [[...base('dave@people.test', 'b5'), 'Auto-Submitted: auto-replied'], 'ignored:auto-submitted'],
    [[...base('bot@ztrust.test', 'b6')], 'ignored:own-mail'],
    [[...base('dave@people.test', 'b7'), 'X-Ztrust-Loop: bot@ztrust.test'], 'ignored:loop-header'],
    // A list post may carry no command, and the body is not read to find out.
    [[...base('dave@people.test', 'b8'), 'List-Id: LINUX-390 <linux-390.people.test>'], 'ignored:list-too-large'],
    // A From: only after the bounded header prefix is not seen at all.
    [[`X-Pad: ${'p'.repeat(MAX_HEADER_SECTION_BYTES)}`, ...base('dave@people.test', 'b9')], 'ignored:no-sender'],
  ];
  for (const [headers, outcome] of cases) {
    const r = await deliver(w, big(headers));
    assert.equal(r.outcome, outcome, headers.join(' | '));
    assert.equal(r.stored, outcome);
    assert.deepEqual(r.outbox, [], `no reply for ${outcome}`);
  }
  assert.deepEqual(await w.store.listOutbox(), []);
  assert.equal(await snapshot(w), before, 'nothing changed');
});

test('a flood of oversize mail forged as From: one address gets at most the hourly replies', async () => {
  const { w } = await community({ config: { limits: { maxMessageBytes: LIMIT, maxRepliesPerSenderPerHour: 3 } } });
  const before = await snapshot(w);
  const outcomes: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await deliver(w, big(base('Victim <victim@people.test>', `f${i}`)));
    outcomes.push(r.outcome);
    if (r.outbox.length) {
      assert.deepEqual(r.outbox.map((o) => o.recipients), [['victim@people.test']]);
      await botMail(w, r.outbox[0], 'error');
      const reply = await simpleParser(r.outbox[0].raw);
      assert.equal(reply.inReplyTo, `<f${i}@people.test>`, 'the reply is threaded to the oversize mail');
      assert.match(reply.text ?? '', /^Status: error\n[\s\S]*reads mail of at most\s+20000\s+bytes/);
    }
  }
  assert.deepEqual(outcomes, ['too-large', 'too-large', 'too-large', ...Array<string>(5).fill('rate-limited:too-large')]);
  assert.equal((await w.store.listOutbox()).length, 3);
  assert.equal(await snapshot(w), before, 'nothing changed');
});

test('the declared size decides when intake kept only the header section', async () => {
  const { w } = await community({ config: { limits: { maxMessageBytes: LIMIT } } });
  // IMAP intake stores only the header section of an oversize message and
  // the size the server declared: the reply names that size, and the header
  // section alone (small) is never taken for the whole message.
  const head = big(base('dave@people.test', 'd1'), '');
  const r = await deliver(w, head, { declaredSize: 50 * 1024 * 1024 });
  assert.equal(r.outcome, 'too-large');
  const reply = await simpleParser(r.outbox[0].raw);
  assert.match((reply.text ?? '').replace(/\s+/g, ' '), /Your mail is 52428800 bytes long/);
  await botMail(w, r.outbox[0], 'error');
});
