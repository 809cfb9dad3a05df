/**
 * Attack (mail loop): an out-of-office or another bot's reply (RFC 3834 Auto-Submitted) that quotes a command.
 * Answering would start a loop between the bot and a robot (or itself),
 * or send backscatter to a forged address: such mail is never answered,
 * even when it carries a command the bot would otherwise answer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { community, stateOf } from '../unit/commands-world.js';
import { assertSilent, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

describe('security: mail loops are never answered', () => {
  test('Auto-Submitted: auto-replied (and auto-generated): ignored, no reply', async () => {
    const { w } = await community();
    const before = await stateOf(w);
    for (const command of ['HELP', 'CHECKPOINT']) {
      const gen = rawMessage(headLines('Erin <erin@people.test>', ['Auto-Submitted: auto-generated', 'Content-Type: text/plain']), `\n${command}\n`);
      await assertSilent(w, await sendChecked(w, gen), 'ignored:auto-submitted');
      const raw = rawMessage(headLines('Erin <erin@people.test>', ['Auto-Submitted: auto-replied', 'Content-Type: text/plain']), `\n${command}\n`);
      await assertSilent(w, await sendChecked(w, raw), 'ignored:auto-submitted');
    }
    // A control: the same command from a person is answered.
    assert.equal((await sendChecked(w, rawMessage(headLines('Erin <erin@people.test>', ['Content-Type: text/plain']), '\nHELP\n'))).replies.length, 1);
    await assertUnchanged(w, before);
  });
});
