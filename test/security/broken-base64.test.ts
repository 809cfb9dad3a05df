/**
 * Attack: broken base64 in the signed part (Content-Transfer-Encoding:
 * base64): characters outside the alphabet, a command hidden after an
 * early `=` pad, a truncated final quantum. Decoders disagree on these;
 * the bot must read one definite text (never a crash), and a command
 * hidden after the pad, which a mail client does not show, is not read.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, pgpMimeWith, rawMessage, sendChecked } from './world.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const part = (body: string) => `Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`;

describe('security: broken base64', () => {
  test('a command hidden after an early pad is not read; junk characters are skipped (RFC 2045 6.8) and the vote is the signer\'s', async () => {
    const { w, alice, bob, t } = await pendingTicket({ threshold: 3 });
    const cmd = `APPROVE ${t.id}\r\n${t.digest}\r\n${TO_BOT}\r\n`;
    const before = await stateOf(w);
    const hidden = await sendChecked(w, await pgpMimeWith('Alice Mainframe <alice@people.test>', alice.key, part(`${b64('Hello.\r\n')}=${b64(cmd)}`)));
    assertRefused(hidden, { outcome: 'no-command', to: 'alice@people.test', says: [/No command was found in your mail/] });
    await assertUnchanged(w, before);

    const junk = b64(cmd);
    const s = await sendChecked(w, await pgpMimeWith('Bob Volunteer <bob@people.test>', bob.key, part(`${junk.slice(0, 20)}!!%%**${junk.slice(20)}`)));
    assert.equal(s.outcome, `APPROVE:recorded:${t.id}`);
    assert.deepEqual((await w.store.getVotes(t.id)).map((v) => v.voter), [bob.fpr]);
  });

  test('unsigned HELP in truncated and junk-laden base64: answered, nothing changes', async () => {
    const { w } = await pendingTicket();
    const before = await stateOf(w);
    for (const body of [b64('HELP\r\n').slice(0, -2), `SEVM!!UA0K`]) {
      const s = await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', ['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: base64']), `\r\n${body}\r\n`));
      assert.equal(s.outcome, 'help');
      assert.equal(s.replies.length, 1);
      assert.equal(s.replies[0].status, 'found');
      assert.deepEqual(s.replies[0].to, ['erin@people.test']);
    }
    await assertUnchanged(w, before);
  });
});
