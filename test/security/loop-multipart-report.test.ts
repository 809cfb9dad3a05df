/**
 * Attack (mail loop): a delivery status notification (multipart/report; report-type=delivery-status, RFC 3464) from an ordinary-looking address, quoting a command in its human-readable part.
 * Answering would start a loop between the bot and a robot (or itself),
 * or send backscatter to a forged address: such mail is never answered,
 * even when it carries a command the bot would otherwise answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { community, stateOf } from '../unit/commands-world.js';
import { assertSilent, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

describe('security: mail loops are never answered', () => {
  test('a multipart/report delivery report: ignored, no reply', async () => {
    const { w } = await community();
    const before = await stateOf(w);
    for (const command of ['HELP', 'CHECKPOINT']) {
      const b = `r-${randomBytes(6).toString('hex')}`;
      const body = `\n--${b}\nContent-Type: text/plain\n\n${command}\n--${b}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.people.test\n\nFinal-Recipient: rfc822; erin@people.test\nAction: failed\nStatus: 5.1.1\n--${b}--\n`;
      const raw = rawMessage(headLines('Erin <erin@people.test>', [`Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`]), body);
      await assertSilent(w, await sendChecked(w, raw), 'ignored:delivery-report');
    }
    // A control: the same command from a person is answered.
    assert.equal((await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', ['Content-Type: text/plain']), '\nHELP\n'))).replies.length, 1);
    await assertUnchanged(w, before);
  });
});
