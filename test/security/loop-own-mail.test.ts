/**
 * Attack (mail loop): a mail that claims to come from the bot itself (its own reply bounced back by a list or an alias that forwards to the bot), or carries the bot's loop header.
 * Answering would start a loop between the bot and a robot (or itself),
 * or send backscatter to a forged address: such mail is never answered,
 * even when it carries a command the bot would otherwise answer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { community, stateOf } from '../unit/commands-world.js';
import { assertSilent, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

describe('security: mail loops are never answered', () => {
  test('the bot\'s own address in From:, or its loop header: ignored, no reply', async () => {
    const { w } = await community();
    const before = await stateOf(w);
    for (const command of ['HELP', 'CHECKPOINT']) {
      const own = rawMessage(headLines('ztrust-bot <bot@ztrust.test>', ['Content-Type: text/plain']), `\n${command}\n`);
      await assertSilent(w, await sendChecked(w, own), 'ignored:own-mail');
      const raw = rawMessage(headLines('Erin <erin@people.test>', ['X-Ztrust-Loop: bot@ztrust.test', 'Content-Type: text/plain']), `\n${command}\n`);
      await assertSilent(w, await sendChecked(w, raw), 'ignored:loop-header');
    }
    // A control: the same command from a person is answered.
    assert.equal((await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', ['Content-Type: text/plain']), '\nHELP\n'))).replies.length, 1);
    await assertUnchanged(w, before);
  });
});
