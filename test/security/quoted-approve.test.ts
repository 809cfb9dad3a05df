/**
 * Attack: a maintainer's signed reply that quotes the bot's notice without
 * `>` (Outlook style: "-----Original Message-----" and the text as it was)
 * while saying "I object". The notice carries copy-paste APPROVE lines; a
 * bot that looks for a command anywhere in the signed text counts the
 * objection as an approval. The command must be the first non-blank signed
 * line: here that is "I object.", so there is no command at all.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flat, pendingTicket, stateOf } from '../unit/commands-world.js';

describe('security: a signed reply quoting the notice without ">"', () => {
  test('is not an approval: no command, Status: error, nothing changed', async () => {
    const { w, alice, opened, t } = await pendingTicket();
    const ticket = t.id;
    const notice = opened.replies.find((r) => r.to[0] === 'alice@people.test')!;
    // The notice really carries the copy-paste lines the attack relies on.
    assert.match(notice.text, new RegExp(`^ {2}APPROVE ${ticket}$`, 'm'));

    const before = await stateOf(w);
    const objection = [
      'I object. I have never met this person and nobody on the list has.',
      '',
      'Alice',
      '',
      '-----Original Message-----',
      'From: ztrust-bot <bot@ztrust.test>',
      `Subject: ${notice.subject}`,
      '',
      notice.text,
    ].join('\n');
    const s = await w.send(await w.mail(alice, objection, { subject: `RE: ${notice.subject}` }));

    assert.equal(s.outcome, 'no-command');
    assert.equal(s.replies.length, 1);
    assert.equal(s.replies[0].status, 'error');
    assert.deepEqual(s.replies[0].to, ['alice@people.test']);
    assert.match(flat(s.replies[0].text), /first non-blank line/);
    assert.deepEqual(await w.store.getVotes(ticket), []);
    assert.equal((await w.store.getTicket(ticket))!.state, 'pending');
    assert.deepEqual(await stateOf(w), before);
  });
});
